"""Terms shared by the knowledge base's writes and reads: the PostgreSQL text-search
configuration of chunk search vectors and the stored form of document tags.

Below both :mod:`knowledge.services` (indexes chunks, saves tags) and :mod:`knowledge.selectors`
(queries with the same configuration, filters by tags), so the reads need not import the writes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.core.exceptions import ValidationError

# Text-search configuration of chunk search vectors; selectors use the same one for queries.
TEXT_SEARCH_CONFIG = "english"
_TAG_RE = re.compile(r"^[a-z0-9][a-z0-9 _.-]{0,49}$")


def normalise_tags(tags: Iterable[str] | str | None) -> list[str]:
    """Tags as stored: stripped, lower-case, duplicates removed, order kept.

    Accepts a list or one comma-separated string. Raises ValidationError (field ``tags``) for a
    tag that is not 1-50 characters of letters, digits, spaces, ``_ . -``.
    """
    if tags is None:
        return []
    items = tags.split(",") if isinstance(tags, str) else list(tags)
    result: list[str] = []
    for item in items:
        tag = " ".join(str(item).split()).lower()
        if not tag:
            continue
        if not _TAG_RE.match(tag):
            raise ValidationError({"tags": f"Invalid tag {tag!r}: use 1-50 letters, digits, spaces, '_', '.' or '-'."})
        if tag not in result:
            result.append(tag)
    return result
