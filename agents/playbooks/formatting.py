"""Number and cell formatting for the offline answers: the one place figures become text.

The playbooks format every figure here before handing it to an answer layout
(``templates/answers/*.md``); templates never format numbers. USD and percent come from
``agents.runtime.context`` (shared with the tools) and are re-exported so playbooks import one module.
"""

from __future__ import annotations

from typing import Any

from agents.runtime.context import fmt_pct, fmt_usd

__all__ = ["fmt_usd", "fmt_pct", "fmt_days", "fmt_count", "fmt_key", "fmt_musd", "md_cell"]


def fmt_days(value: Any) -> str:
    """``12.5 days`` (days to 0.1, thousands separated); ``n/a`` for None."""
    return "n/a" if value is None else f"{float(value):,.1f} days"


def fmt_count(value: Any) -> str:
    """``4,238`` (an integer count, thousands separated); ``n/a`` for None."""
    return "n/a" if value is None else f"{int(value):,}"


def fmt_musd(value: Any) -> str:
    """``USD 12.34 million`` for a value already in millions of USD; ``n/a`` for None."""
    return "n/a" if value is None else "USD " + format(float(value), ",.2f") + " million"


def fmt_key(value: Any) -> str:
    """A dimension value as shown in an answer: ``(none)`` for NULL, ``YYYY-MM-DD`` for dates and
    timestamps, else ``str(value)``."""
    if value is None:
        return "(none)"
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10]
    return str(value)


def md_cell(value: Any) -> str:
    """A Markdown table cell: ``str(value)`` with ``|`` escaped as ``\\|`` so a value cannot split its row."""
    return str(value).replace("|", "\\|")
