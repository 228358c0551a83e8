"""Answer layouts: the offline playbooks compute, templates present (DESIGN.md, issue 9).

Each answer layout is a Django template under the project's top-level ``templates/answers/``
folder that produces Markdown (the same Markdown the LLM answers use, rendered later to HTML,
Slack mrkdwn or plain text by the one markdown pipeline). Markdown is not HTML, so these
templates are rendered by a dedicated engine with autoescaping off; values are inserted as
they are and the playbooks pass already formatted figures (``"$1,234,567"``, ``"42.0%"``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.template import Context, Engine

_BLANK_RUNS = re.compile(r"\n{3,}")


@lru_cache(maxsize=1)
def _engine() -> Engine:
    # The answer filters (``md_cell``) are builtins, so layouts need no ``{% load %}``.
    return Engine(
        dirs=[str(settings.BASE_DIR / "templates")], autoescape=False, debug=False, builtins=["agents.templatetags.answers"]
    )


def render_answer(name: str, context: dict[str, Any]) -> str:
    """Render ``templates/answers/<name>.md`` with ``context`` and return Markdown.

    Template whitespace is tidied: runs of three or more newlines collapse to one blank line and
    the result is stripped, so ``{% if %}`` blocks do not leave gaps.
    Raises ``django.template.TemplateDoesNotExist`` for an unknown layout name.
    """
    text = _engine().get_template(f"answers/{name}.md").render(Context(context, autoescape=False))
    return _BLANK_RUNS.sub("\n\n", text).strip()
