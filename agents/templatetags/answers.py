"""Template filters for the answer layouts (``templates/answers/*.md``, Markdown output).

Loaded as a builtin of the answer engine (``agents.playbooks.render``), so layouts use them without
``{% load %}``. Formatting of figures stays in Python (``agents.playbooks.formatting``); these
filters only make a value safe for its place in Markdown.
"""

from __future__ import annotations

from typing import Any

from django import template

from agents.playbooks.formatting import md_cell as _md_cell

register = template.Library()


@register.filter
def md_cell(value: Any) -> str:
    """A Markdown table cell: ``str(value)`` with ``|`` escaped as ``\\|`` (None shows as ``None``,
    as the playbooks pass ``"n/a"`` themselves where a value can be missing)."""
    return _md_cell(value)


@register.filter
def split(value: str, separator: str = ",") -> list[str]:
    """``"Account|Notes"|split:"|"`` -> ``["Account", "Notes"]``: lets a layout name its table
    headers itself (Django templates have no list literals)."""
    return str(value).split(separator)
