"""As-of dates and relative periods, computed server-side (DESIGN.md §4 Time).

Every run carries an explicit as-of date. Relative periods ("last quarter", "this month",
"recent") are computed from it; the warehouse data is not rewound (it is the current snapshot).
Quarters are calendar quarters (Q1 = Jan-Mar); weeks start on Monday (ISO 8601).

Two entry points:

- :func:`parse_period` (text -> the first :class:`Period` it names, or None), used by callers
  that need one period;
- :func:`find_periods` and :func:`find_comparison` (text -> every period with its character
  span, and a period-over-period comparison phrase), used by the offline question parser
  (``agents.semantic.parser``) so it can tell which words it used. :func:`shift_period` and
  :func:`comparison_period` compute the comparison range (same length, shifted).

A period that runs past the as-of date is cut at the as-of date and marked incomplete
(``complete=False``); a bare "Q2" or "in March" is the most recent one that has started by the
as-of date (this year's if it has started, else last year's).
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass, replace

from django.utils import timezone

from tenants.models import Tenant
from tenants.settings_schema import tenant_settings_section

RECENT_DAYS = 90


def resolve_as_of(*, tenant: Tenant, explicit: dt.date | None = None) -> dt.date:
    """Return the run's as-of date: ``explicit``, else the tenant's pinned ``settings["as_of_date"]``
    (ISO date), else today in the tenant's time zone. Raises ``ValueError`` on a malformed pin."""
    if explicit:
        return explicit
    pinned = tenant_settings_section(tenant, "as_of_date")  # a ValueError when malformed
    if pinned:
        return pinned
    return timezone.now().astimezone(zoneinfo.ZoneInfo(tenant.time_zone)).date()


RANGE_UNITS = ("day", "week", "month", "quarter", "half", "year", "range")


@dataclass(frozen=True)
class Period:
    """A date range ``[start, end]`` inclusive. ``complete`` is False when the period runs past
    the as-of date (e.g. this quarter), and then ``end`` is the as-of date. ``unit`` is the
    calendar unit the period was named in (one of :data:`RANGE_UNITS`, "" when unknown); a
    period-over-period comparison shifts by it."""

    label: str
    start: dt.date
    end: dt.date
    complete: bool
    unit: str = ""

    def describe(self) -> str:
        """Human text, e.g. ``last quarter (Q1 2025: 2025-01-01 to 2025-03-31)``."""
        text = f"{self.label} ({self.start.isoformat()} to {self.end.isoformat()})"
        return text if self.complete else f"{text}, incomplete: to date"


@dataclass(frozen=True)
class PeriodMatch:
    """A period found in a text: ``span`` is the ``(start, end)`` character offsets of the words
    that name it (``text[span[0]:span[1]]``); ``relative`` is the unit of a "last/previous X"
    phrase (``quarter`` for "last quarter"), "" otherwise."""

    period: Period
    span: tuple[int, int]
    relative: str = ""


@dataclass(frozen=True)
class ComparisonMatch:
    """A period-over-period phrase: ``kind`` is ``year`` (vs the same period last year, year over
    year), ``half``, ``quarter`` (quarter over quarter), ``month``, ``week`` or ``previous`` (vs
    the previous period of the same length); ``span`` as in :class:`PeriodMatch`; ``base_unit``
    is the period the phrase names when no other period is given ("same quarter last year" ->
    ``quarter``; "year over year" -> ``year``)."""

    kind: str
    span: tuple[int, int]
    base_unit: str


_ONE_DAY = dt.timedelta(days=1)
_MONTHS = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4,
    "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9,
    "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12,
}
_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}
_ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4}
_UNIT_MONTHS = {"month": 1, "quarter": 3, "half": 6, "year": 12}

# Full month names anywhere; three-letter abbreviations only where a year or a preposition
# makes them unambiguous ("may" is a verb, "mar"/"dec" are words).
_MONTH_FULL = r"(?:january|february|march|april|may|june|july|august|september|october|november|december)"
_MONTH_ANY = r"(?:january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)"
_YEAR = r"(?:19|20)\d{2}"
_ISO = r"\d{4}-\d{2}-\d{2}"
_Q = r"q([1-4])"
_SEP = r"\s*(?:-|/|\s|\bof\b|\bin\b|,)\s*"


def _quarter_start(day: dt.date) -> dt.date:
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _month_end(day: dt.date) -> dt.date:
    return _add_months(day, 1) - _ONE_DAY


def _shift_day(day: dt.date, months: int) -> dt.date:
    """``day`` moved by ``months`` calendar months; a month's last day stays a month's last day
    (2025-06-30 - 3 months = 2025-03-31) and a day past the target month's end is clamped."""
    first = _add_months(day, months)
    if day == _month_end(day):
        return _month_end(first)
    return min(first + dt.timedelta(days=day.day - 1), _month_end(first))


def _quarter_label(start: dt.date) -> str:
    return f"Q{(start.month - 1) // 3 + 1} {start.year}"


def range_label(start: dt.date, end: dt.date) -> str:
    """A calendar name for ``[start, end]`` when it is one ("Q2 2024", "March 2025", "2024",
    "H1 2025"), else ``"2025-01-01 to 2025-02-15"``."""
    if start.day == 1 and end == _month_end(end):
        months = (end.year - start.year) * 12 + end.month - start.month + 1
        if months == 1:
            return f"{start:%B %Y}"
        if months == 3 and start.month % 3 == 1:
            return _quarter_label(start)
        if months == 6 and start.month in (1, 7):
            return f"H{1 if start.month == 1 else 2} {start.year}"
        if months == 12 and start.month == 1:
            return str(start.year)
    return f"{start.isoformat()} to {end.isoformat()}"


def _clip(label: str, start: dt.date, end: dt.date, as_of: dt.date, unit: str = "") -> Period:
    if end > as_of >= start:
        return Period(label, start, as_of, False, unit)
    return Period(label, start, end, True, unit)


def _latest_start(month: int, as_of: dt.date) -> int:
    """Year of the most recent period starting in ``month`` that has started by ``as_of``."""
    return as_of.year if month <= as_of.month else as_of.year - 1


def _quarter(q: int, year: int, as_of: dt.date) -> Period:
    start = dt.date(year, 3 * (q - 1) + 1, 1)
    return _clip(f"Q{q} {year}", start, _add_months(start, 3) - _ONE_DAY, as_of, "quarter")


def _half(h: int, year: int, as_of: dt.date) -> Period:
    start = dt.date(year, 1 if h == 1 else 7, 1)
    return _clip(f"H{h} {year}", start, _add_months(start, 6) - _ONE_DAY, as_of, "half")


def _month(month: int, year: int, as_of: dt.date) -> Period:
    start = dt.date(year, month, 1)
    return _clip(f"{start:%B %Y}", start, _month_end(start), as_of, "month")


def _year(year: int, as_of: dt.date) -> Period:
    return _clip(str(year), dt.date(year, 1, 1), dt.date(year, 12, 31), as_of, "year")


def _relative(which: str, unit: str, as_of: dt.date) -> Period:
    """last/this quarter|month|year|week|half relative to ``as_of``."""
    last = which in ("last", "previous", "prior")
    if unit == "week":
        monday = as_of - dt.timedelta(days=as_of.weekday())
        if last:
            start = monday - dt.timedelta(days=7)
            return Period(f"last week, {start.isoformat()} to {(start + dt.timedelta(days=6)).isoformat()}", start, start + dt.timedelta(days=6), True, "week")
        return _clip(f"this week, from {monday.isoformat()}", monday, monday + dt.timedelta(days=6), as_of, "week")
    if unit == "day":
        day = as_of - _ONE_DAY if last else as_of
        return Period("yesterday" if last else "today", day, day, True, "day")
    if unit == "quarter":
        current = _quarter_start(as_of)
    elif unit == "half":
        current = dt.date(as_of.year, 1 if as_of.month <= 6 else 7, 1)
    elif unit == "month":
        current = dt.date(as_of.year, as_of.month, 1)
    else:
        current = dt.date(as_of.year, 1, 1)
    months = _UNIT_MONTHS[unit]
    start = _add_months(current, -months) if last else current
    end = _add_months(start, months) - _ONE_DAY
    name = range_label(start, end)
    word = "last" if last else "this"
    return _clip(f"{word} {unit}, {name}", start, end, as_of, unit)


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _num(text: str) -> int:
    return int(text) if text.isdigit() else _NUMBER_WORDS[text.lower()]


def _rules() -> list[tuple[re.Pattern, object]]:
    """(pattern, builder(match, as_of) -> list[(Period, span, relative)] | None) in no particular
    order: overlaps are resolved by position then length (the longest phrase at a position)."""
    rules: list[tuple[str, object]] = []

    def add(pattern: str):
        def deco(fn):
            rules.append((pattern, fn))
            return fn
        return deco

    @add(rf"\b(?:between|from)\s+({_ISO})\s+(?:and|to|through|until|till)\s+({_ISO})\b|\b({_ISO})\s*(?:to|through|until|till|-|–)\s*({_ISO})\b")
    def _iso_range(m, as_of):
        a, b = _date(m.group(1) or m.group(3)), _date(m.group(2) or m.group(4))
        if a is None or b is None or b < a:
            return None
        return [(_clip(f"{a.isoformat()} to {b.isoformat()}", a, b, as_of, "range"), m.span(), "")]

    @add(rf"\b({_ISO})\b")
    def _iso_day(m, as_of):
        d = _date(m.group(1))
        return [(Period(d.isoformat(), d, d, True, "day"), m.span(), "")] if d else None

    @add(rf"\bsince\s+(?:({_ISO})|({_MONTH_ANY})(?:\s+({_YEAR}))?|{_Q}(?:{_SEP}({_YEAR}))?|({_YEAR}))\b")
    def _since(m, as_of):
        if m.group(1):
            start = _date(m.group(1))
        elif m.group(2):
            month = _MONTHS[m.group(2).lower()]
            start = dt.date(int(m.group(3)) if m.group(3) else _latest_start(month, as_of), month, 1)
        elif m.group(4):
            q = int(m.group(4))
            year = int(m.group(5)) if m.group(5) else _latest_start(3 * (q - 1) + 1, as_of)
            start = dt.date(year, 3 * (q - 1) + 1, 1)
        else:
            start = dt.date(int(m.group(6)), 1, 1)
        if start is None or start > as_of:
            return None
        return [(Period(f"since {start.isoformat()}", start, as_of, True, "range"), m.span(), "")]

    @add(rf"\b(?:(?:from|between)\s+)?({_MONTH_ANY})(?:\s+({_YEAR}))?\s*(?:to|through|until|till|and|-|–)\s*({_MONTH_ANY})[,]?\s+({_YEAR})\b")
    def _month_range(m, as_of):
        m1, m2, y2 = _MONTHS[m.group(1).lower()], _MONTHS[m.group(3).lower()], int(m.group(4))
        joiner = m.group(0).lower()
        y1 = int(m.group(2)) if m.group(2) else (y2 if m1 <= m2 else y2 - 1)
        if re.search(rf"{_MONTH_ANY}(?:\s+{_YEAR})?\s+and\s+", joiner) and not re.match(r"\s*between", joiner):
            # "March and April 2025": two months (a comparison), not a range
            return [(_month(m1, y1, as_of), m.span(1), ""), (_month(m2, y2, as_of), (m.start(3), m.end(4)), "")]
        start, end = dt.date(y1, m1, 1), _month_end(dt.date(y2, m2, 1))
        if end < start:
            return None
        return [(_clip(range_label(start, end), start, end, as_of, "range"), m.span(), "")]

    @add(rf"\b{_Q}\s*(?:and|vs\.?|versus|or|&|,|to)\s*{_Q}{_SEP}(?:fy\s*)?({_YEAR})\b")
    def _two_quarters(m, as_of):
        q1, q2, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
        y1 = year if q1 <= q2 else year - 1
        if re.search(r"\bto\b", m.group(0).lower()):
            start = dt.date(y1, 3 * (q1 - 1) + 1, 1)
            end = _add_months(dt.date(year, 3 * (q2 - 1) + 1, 1), 3) - _ONE_DAY
            return [(_clip(f"Q{q1} to Q{q2} {year}", start, end, as_of, "range"), m.span(), "")]
        return [(_quarter(q1, y1, as_of), (m.start(1) - 1, m.end(1)), ""), (_quarter(q2, year, as_of), (m.start(2) - 1, m.end(3)), "")]

    @add(rf"\b{_Q}{_SEP}(?:fy\s*)?({_YEAR})\b|\bq([1-4])({_YEAR})\b")
    def _quarter_year(m, as_of):
        q, year = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        return [(_quarter(int(q), int(year), as_of), m.span(), "")]

    @add(rf"\b(?:fy\s*)?({_YEAR})\s*[-/ ]?\s*{_Q}\b")
    def _year_quarter(m, as_of):
        return [(_quarter(int(m.group(2)), int(m.group(1)), as_of), m.span(), "")]

    @add(rf"\b(first|second|third|fourth|1st|2nd|3rd|4th)\s+quarter(?:\s+(?:of\s+|in\s+)?({_YEAR}))?\b")
    def _ordinal_quarter(m, as_of):
        q = _ORDINALS[m.group(1).lower()]
        year = int(m.group(2)) if m.group(2) else _latest_start(3 * (q - 1) + 1, as_of)
        return [(_quarter(q, year, as_of), m.span(), "")]

    @add(rf"\b{_Q}\b(?!\s*(?:-|/)?\s*{_YEAR})")
    def _bare_quarter(m, as_of):
        q = int(m.group(1))
        return [(_quarter(q, _latest_start(3 * (q - 1) + 1, as_of), as_of), m.span(), "")]

    @add(rf"\bh([12])(?:{_SEP}({_YEAR}))?\b|\b([12])h\s*({_YEAR})\b|\b({_YEAR})\s*h([12])\b|\b(first|second|1st|2nd)\s+half(?:\s+(?:of\s+|in\s+)?({_YEAR}))?\b")
    def _half_year(m, as_of):
        h = m.group(1) or m.group(3) or m.group(6) or str(_ORDINALS[m.group(7).lower()])
        year = m.group(2) or m.group(4) or m.group(5) or m.group(8)
        h = int(h)
        y = int(year) if year else _latest_start(1 if h == 1 else 7, as_of)
        return [(_half(h, y, as_of), m.span(), "")]

    @add(rf"\b({_MONTH_ANY})(?:\s+of)?[,]?\s+({_YEAR})\b")
    def _month_year(m, as_of):
        return [(_month(_MONTHS[m.group(1).lower()], int(m.group(2)), as_of), m.span(), "")]

    @add(rf"\b(?:in|for|during|over|of|from)\s+({_MONTH_ANY})\b(?![,]?\s+(?:of\s+)?\d)|\b({_MONTH_FULL})\b(?![,]?\s+(?:of\s+)?\d)")
    def _bare_month(m, as_of):
        word = (m.group(1) or m.group(2)).lower()
        if m.group(2) and word == "may":
            return None  # the modal verb
        month = _MONTHS[word]
        span = m.span(1) if m.group(1) else m.span(2)
        return [(_month(month, _latest_start(month, as_of), as_of), span, "")]

    @add(r"\b(last\s+(?:full|complete|completed)|most\s+recent|latest|last|previous|prior|past|this|current)\s+(quarter|month|year|week|half)\b|\b(yesterday|today)\b")
    def _rel(m, as_of):
        if m.group(3):
            return [(_relative("last" if m.group(3).lower() == "yesterday" else "this", "day", as_of), m.span(), "")]
        which, unit = m.group(1).lower(), m.group(2).lower()
        # "past/latest/most recent/last full quarter": the last complete one, like "last quarter"
        which = which if which in ("this", "current", "previous", "prior") else "last"
        rel = unit if which in ("last", "previous", "prior") else ""
        return [(_relative(which, unit, as_of), m.span(), rel)]

    @add(r"\b(year|quarter|month|week)[- ]to[- ]date\b|\b(ytd|qtd|mtd|wtd)\b")
    def _to_date(m, as_of):
        unit = m.group(1).lower() if m.group(1) else {"y": "year", "q": "quarter", "m": "month", "w": "week"}[m.group(2).lower()[0]]
        period = _relative("this", unit, as_of)
        label = {"year": "year to date", "quarter": "quarter to date", "month": "month to date", "week": "week to date"}[unit]
        return [(replace(period, label=f"{label}, {period.label.split(', ', 1)[-1]}"), m.span(), "")]

    @add(r"\b(?:last|past|previous|prior|trailing)\s+(\d{1,4}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\s+(days?|weeks?|months?|quarters?|years?)\b")
    def _last_n(m, as_of):
        n, unit = _num(m.group(1)), m.group(2).lower().rstrip("s")
        if n < 1:
            return None
        if unit == "day":
            start = as_of - dt.timedelta(days=n - 1)
        elif unit == "week":
            start = as_of - dt.timedelta(days=7 * n - 1)
        else:
            start = _shift_day(as_of, -n * _UNIT_MONTHS[unit]) + _ONE_DAY
        return [(Period(f"last {n} {unit}{'s' if n > 1 else ''}", start, as_of, True, "range"), m.span(), "")]

    @add(r"\brecent(?:ly)?\b(?!\s+(?:quarter|month|year|week|half)s?\b)")
    def _recent(m, as_of):
        return [(Period(f"recent (last {RECENT_DAYS} days)", as_of - dt.timedelta(days=RECENT_DAYS - 1), as_of, True, "range"), m.span(), "")]

    @add(rf"\b(?:fy\s*)?({_YEAR})\b(?!\s*-\s*\d)")
    def _bare_year(m, as_of):
        return [(_year(int(m.group(1)), as_of), m.span(), "")]

    return [(re.compile(p, re.I), fn) for p, fn in rules]


_RULES = _rules()

_COMPARATOR = r"(?:vs\.?|versus|compared\s+(?:to|with)|comparing\s+(?:to|with)|against|relative\s+to|over)"
_COMPARISONS = [
    (re.compile(rf"(?:\b{_COMPARATOR}\s+)?\b(?:the\s+)?same\s+(quarter|month|period|time|week|half|year|day)\s+(?:of\s+)?(?:last|a|the\s+previous|the\s+prior|previous|prior|one)\s+year(?:\s+ago)?\b|\b{_COMPARATOR}\s+(?:the\s+)?(?:same\s+)?(quarter|month|period|week|half)\s+a\s+year\s+(?:ago|before|earlier)\b", re.I), "year"),
    (re.compile(r"\byear[- ]over[- ]year\b|\byoy\b|\by/y\b|\bvs\.?\s+(?:a\s+)?year\s+ago\b", re.I), "year"),
    (re.compile(r"\bquarter[- ]over[- ]quarter\b|\bqoq\b|\bq/q\b", re.I), "quarter"),
    (re.compile(r"\bmonth[- ]over[- ]month\b|\bmom\b|\bm/m\b", re.I), "month"),
    (re.compile(r"\bweek[- ]over[- ]week\b|\bwow\b|\bw/w\b", re.I), "week"),
    (re.compile(rf"\b{_COMPARATOR}\s+(?:the\s+)?(?:previous|prior|preceding|last)\s+period\b|\bperiod[- ]over[- ]period\b", re.I), "previous"),
]


def find_periods(text: str, *, as_of: dt.date) -> list[PeriodMatch]:
    """Every period named in ``text``, in text order, without overlaps (at one position the
    longest phrase wins; comparison phrases found by :func:`find_comparison` are not periods).

    Understands: ``Q1 2025``, ``Q2-2025``, ``2025 Q2``, ``Q2 of 2025``, ``first quarter of 2025``,
    a bare ``Q2`` (the latest started), ``H1 2025``/``first half of 2025``, ``March 2025``,
    ``in March`` (the latest started), ``from January to March 2025``, ``Q1 and Q2 2025`` (two
    periods), ``between 2025-01-01 and 2025-03-31``, an ISO date, ``since April 2025``,
    last/this/previous quarter|month|year|week|half, year/quarter/month to date (YTD/QTD/MTD),
    today/yesterday, last N days|weeks|months|quarters|years (a rolling window ending on the
    as-of date), recent/recently (last 90 days), a year (``in 2024``, ``2024``, ``FY2024``).
    Periods that started after ``as_of`` are kept (they are empty, not an error).
    """
    excluded = [c.span for c in _comparison_matches(text)]
    found: list[tuple[int, int, int, Period, tuple[int, int], str]] = []
    for order, (pattern, build) in enumerate(_RULES):
        for m in pattern.finditer(text):
            if any(a < m.end() and m.start() < b for a, b in excluded):
                continue
            built = build(m, as_of)
            if not built:
                continue
            whole = m.span()
            for period, span, relative in built:
                found.append((whole[0], -(whole[1] - whole[0]), order, period, span, relative))
    found.sort(key=lambda f: (f[0], f[1], f[2]))
    taken: list[tuple[int, int]] = []
    result: list[PeriodMatch] = []
    wholes: list[tuple[int, int]] = []
    for start, neg_len, _order, period, span, relative in found:
        whole = (start, start - neg_len)
        if any(a < whole[1] and whole[0] < b for a, b in wholes if (a, b) != whole):
            continue
        if whole not in wholes:
            wholes.append(whole)
        if span in taken:
            continue
        taken.append(span)
        result.append(PeriodMatch(period, span, relative))
    result.sort(key=lambda p: p.span[0])
    return result


def _comparison_matches(text: str) -> list[ComparisonMatch]:
    out: list[ComparisonMatch] = []
    for pattern, kind in _COMPARISONS:
        for m in pattern.finditer(text):
            if any(a < m.end() and m.start() < b for a, b in (c.span for c in out)):
                continue
            base = next((g.lower() for g in m.groups() if g), "") if m.groups() else ""
            if base in ("", "period", "time"):
                base = {"year": "year", "previous": ""}.get(kind, kind)
            out.append(ComparisonMatch(kind, m.span(), base))
    return out


def find_comparison(text: str) -> ComparisonMatch | None:
    """The first period-over-period phrase in ``text`` ("vs the same quarter last year", "year
    over year", "QoQ", "month over month", "vs the previous period"), or None. "vs last quarter"
    is not one: it names a second period (see :func:`find_periods`)."""
    matches = _comparison_matches(text)
    return matches[0] if matches else None


def shift_period(period: Period, *, months: int = 0, days: int = 0) -> Period:
    """``period`` moved by ``months`` calendar months (month ends stay month ends) or by
    ``days``; the label is recomputed (:func:`range_label`). The result is marked complete: it
    is the comparison window of the same length, not a period cut at the as-of date."""
    if months:
        start, end = _shift_day(period.start, months), _shift_day(period.end, months)
    else:
        start, end = period.start + dt.timedelta(days=days), period.end + dt.timedelta(days=days)
    return Period(range_label(start, end), start, end, True, period.unit)


def comparison_period(period: Period, kind: str) -> Period:
    """The period ``period`` is compared with: ``year`` -> 12 months earlier, ``half`` -> 6,
    ``quarter`` -> 3, ``month`` -> 1, ``week`` -> 7 days earlier, ``previous`` -> the period of
    the same length just before (by ``period.unit``: a quarter to date is compared with the
    same days of the previous quarter; an arbitrary range with the same number of days).
    Raises ValueError on an unknown ``kind``."""
    if kind == "week":
        return shift_period(period, days=-7)
    if kind in _UNIT_MONTHS:
        return shift_period(period, months=-_UNIT_MONTHS[kind])
    if kind == "previous":
        if period.unit in _UNIT_MONTHS:
            return shift_period(period, months=-_UNIT_MONTHS[period.unit])
        if period.unit == "week":
            return shift_period(period, days=-7)
        length = (period.end - period.start).days + 1
        return shift_period(period, days=-length)
    raise ValueError(f"unknown comparison kind {kind!r}")


def current_period(unit: str, *, as_of: dt.date) -> Period:
    """This ``unit`` (day, week, month, quarter, half, year) containing ``as_of``, cut at
    ``as_of`` (incomplete when it runs past it). Raises KeyError on an unknown unit."""
    if unit not in ("day", "week", "month", "quarter", "half", "year"):
        raise KeyError(unit)
    return _relative("this", unit, as_of)


def parse_period(text: str, *, as_of: dt.date) -> Period | None:
    """The first period named in ``text`` relative to ``as_of`` (see :func:`find_periods` for
    what is understood); None when the text names none."""
    found = find_periods(text, as_of=as_of)
    return found[0].period if found else None
