"""As-of dates and relative periods, computed server-side (DESIGN.md §4 Time).

Every run carries an explicit as-of date. Relative periods ("last quarter", "this month",
"recent") are computed from it; the warehouse data is not rewound (it is the current snapshot).
Quarters are calendar quarters (Q1 = Jan-Mar).
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass

from django.utils import timezone

from tenants.models import Tenant

RECENT_DAYS = 90


def resolve_as_of(*, tenant: Tenant, explicit: dt.date | None = None) -> dt.date:
    """Return the run's as-of date: ``explicit``, else the tenant's pinned ``settings["as_of_date"]``
    (ISO date), else today in the tenant's time zone. Raises ``ValueError`` on a malformed pin."""
    if explicit:
        return explicit
    pinned = (tenant.settings or {}).get("as_of_date")
    if pinned:
        return dt.date.fromisoformat(str(pinned))
    return timezone.now().astimezone(zoneinfo.ZoneInfo(tenant.time_zone)).date()


@dataclass(frozen=True)
class Period:
    """A date range ``[start, end]`` inclusive. ``complete`` is False when the period runs past
    the as-of date (e.g. this quarter), and then ``end`` is the as-of date."""

    label: str
    start: dt.date
    end: dt.date
    complete: bool

    def describe(self) -> str:
        """Human text, e.g. ``last quarter (Q1 2025: 2025-01-01 to 2025-03-31)``."""
        text = f"{self.label} ({self.start.isoformat()} to {self.end.isoformat()})"
        return text if self.complete else f"{text}, incomplete: to date"


def _quarter_start(day: dt.date) -> dt.date:
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _quarter_label(start: dt.date) -> str:
    return f"Q{(start.month - 1) // 3 + 1} {start.year}"


def parse_period(text: str, *, as_of: dt.date) -> Period | None:
    """Find a period in ``text`` relative to ``as_of``; None when the text names none.

    Understands: last/this/previous quarter, last/this month, last/this year, year to date,
    ``Q1 2025``, a bare year ``2024``, ``last N days``, ``recent``/``recently`` (last 90 days).
    """
    t = text.lower()
    one_day = dt.timedelta(days=1)
    if m := re.search(r"\bq([1-4])\s*(?:fy)?\s*(\d{4})\b", t):
        q, year = int(m.group(1)), int(m.group(2))
        start = dt.date(year, 3 * (q - 1) + 1, 1)
        end = _add_months(start, 3) - one_day
        return _clip(f"Q{q} {year}", start, end, as_of)
    if re.search(r"\b(last|previous|prior)\s+quarter\b", t):
        start = _add_months(_quarter_start(as_of), -3)
        return Period(f"last quarter, {_quarter_label(start)}", start, _quarter_start(as_of) - one_day, True)
    if re.search(r"\b(this|current)\s+quarter\b|\bquarter[- ]to[- ]date\b|\bqtd\b", t):
        start = _quarter_start(as_of)
        return _clip(f"this quarter, {_quarter_label(start)}", start, _add_months(start, 3) - one_day, as_of)
    if re.search(r"\b(last|previous|prior)\s+month\b", t):
        this_month = dt.date(as_of.year, as_of.month, 1)
        start = _add_months(this_month, -1)
        return Period(f"last month, {start:%B %Y}", start, this_month - one_day, True)
    if re.search(r"\b(this|current)\s+month\b|\bmonth[- ]to[- ]date\b|\bmtd\b", t):
        start = dt.date(as_of.year, as_of.month, 1)
        return _clip(f"this month, {start:%B %Y}", start, _add_months(start, 1) - one_day, as_of)
    if re.search(r"\b(last|previous|prior)\s+year\b", t):
        y = as_of.year - 1
        return Period(f"last year, {y}", dt.date(y, 1, 1), dt.date(y, 12, 31), True)
    if re.search(r"\b(this|current)\s+year\b|\byear[- ]to[- ]date\b|\bytd\b", t):
        y = as_of.year
        return _clip(f"this year, {y}", dt.date(y, 1, 1), dt.date(y, 12, 31), as_of)
    if m := re.search(r"\b(?:last|past)\s+(\d{1,4})\s+days\b", t):
        days = int(m.group(1))
        return Period(f"last {days} days", as_of - dt.timedelta(days=days - 1), as_of, True)
    if re.search(r"\brecent(ly)?\b", t):
        return Period(f"recent (last {RECENT_DAYS} days)", as_of - dt.timedelta(days=RECENT_DAYS - 1), as_of, True)
    if m := re.search(r"\b(?:in|for|during)\s+(20\d{2})\b", t):
        y = int(m.group(1))
        return _clip(str(y), dt.date(y, 1, 1), dt.date(y, 12, 31), as_of)
    return None


def _clip(label: str, start: dt.date, end: dt.date, as_of: dt.date) -> Period:
    if end > as_of >= start:
        return Period(label, start, as_of, False)
    return Period(label, start, end, True)
