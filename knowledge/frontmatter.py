"""YAML front matter at the top of a knowledge document body.

Format (the Jekyll/Hugo convention)::

    ---
    stalled_in_stage_days: 30
    stages: {Discover: 10, Negotiate: 75}
    ---
    # Deal risk warnings
    ...

The opening ``---`` must be the very first line (a UTF-8 BOM and trailing spaces are tolerated);
the front matter ends at the next line that is exactly ``---``.

Parsing is done with libyaml's ``CSafeLoader`` when PyYAML was built with it (about ten times
faster than the pure-Python ``SafeLoader``, same safe subset), and the result is cached per
process by the SHA-256 of the body: a document version is parsed once, however many runs read
its rules. Callers get a deep copy, so mutating the returned dict never changes the cache.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from collections import OrderedDict

import yaml

_FENCE = "---"
#: libyaml when available; both refuse arbitrary Python objects.
YAML_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: Distinct document bodies kept parsed per process (least recently used dropped first).
CACHE_SIZE = 256
_cache: OrderedDict[bytes, tuple[dict, str]] = OrderedDict()
_cache_lock = threading.Lock()


class FrontMatterError(ValueError):
    """The front matter is not valid YAML, is not a mapping, or is never closed.

    ``line`` is the 1-based line number in the document body when known, else None.
    """

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def split_front_matter(body: str) -> tuple[dict, str]:
    """Split ``body`` into ``(front_matter, markdown)``.

    Returns ``({}, body)`` unchanged when the body does not start with a ``---`` line, and
    ``({}, rest)`` for an empty front matter block. YAML is parsed with the safe loader (libyaml's
    ``CSafeLoader`` when available: no arbitrary objects; dates become ``datetime.date``), once
    per distinct body per process (cached by SHA-256); the dict returned is the caller's own copy.

    Raises:
        FrontMatterError: the block is opened but never closed, the YAML is invalid (message
            names the line in ``body``), or it parses to something other than a mapping.
    """
    key = hashlib.sha256(body.encode("utf-8", "surrogatepass")).digest()
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
    if hit is not None:
        return copy.deepcopy(hit[0]), hit[1]
    data, markdown = _parse(body)
    with _cache_lock:
        _cache[key] = (copy.deepcopy(data), markdown)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return data, markdown


def _parse(body: str) -> tuple[dict, str]:
    """The uncached split; errors as for :func:`split_front_matter` (errors are not cached)."""
    text = body[1:] if body.startswith("\ufeff") else body
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip() != _FENCE:
        return {}, body
    for index in range(1, len(lines)):
        if lines[index].rstrip() == _FENCE:
            closing = index
            break
    else:
        raise FrontMatterError(
            "Front matter opened by '---' on line 1 is never closed: add a '---' line after it.", line=1
        )
    yaml_text = "".join(lines[1:closing])
    try:
        data = yaml.load(yaml_text, Loader=YAML_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        # mark.line is 0-based within the YAML text, which starts on body line 2.
        line = mark.line + 2 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        where = f" at line {line}" if line else ""
        raise FrontMatterError(f"Invalid YAML in front matter{where}: {problem}.", line=line) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FrontMatterError(
            f"Front matter must be a YAML mapping (key: value lines), got a {type(data).__name__}.", line=2
        )
    return data, "".join(lines[closing + 1 :])
