"""Grounding check: every number in an answer must trace to a value the run's tools produced.

Sources are the values of every SQL result row, the numbers in the KB documents the run read,
the values the playbooks computed and declared (``RunContext.computed``), web results, the
question itself and the run's as-of date. A number in the answer is grounded when some source
value rounds to it at the precision shown (``$23,334`` matches 23334.2; ``63.4%`` matches
63.42 or 0.6342; ``3.1M`` matches 3,061,111). Dates (YYYY-MM-DD) must equal a source date.
Citation marks ``[n]`` and the Sources footer are not checked; integers 0-3 are exempt (list
positions and small counts such as "up to 3 risks"). Formula: DESIGN.md §1 (numbers traceable
to the query that produced them).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterable

_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_NUMBER = re.compile(r"(?<![\w.#])(\$)?(-?\d[\d,]*(?:\.\d+)?)\s?(%|[KMB]\b)?(?![\w])")
_SUFFIX = {"K": 1e3, "M": 1e6, "B": 1e9}
_CITATION = re.compile(r"\[\d+\]")


@dataclass
class GroundingResult:
    """``checked`` numbers and dates found in the answer; ``unmatched`` ones as written."""

    checked: int = 0
    unmatched: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        """``{"checked": n, "unmatched": [...]}`` as stored on the run."""
        return {"checked": self.checked, "unmatched": self.unmatched}


class GroundingSources:
    """The set of numeric values and dates a run's tools produced."""

    def __init__(self) -> None:
        self.numbers: set[float] = set()
        self.dates: set[str] = set()

    def add(self, value: Any) -> None:
        """Add a value: numbers, dates, strings (numbers and dates inside are extracted), or
        nested lists/dicts."""
        if value is None or isinstance(value, bool):
            return
        if isinstance(value, (int, float, Decimal)):
            self.numbers.add(float(value))
        elif isinstance(value, (dt.date, dt.datetime)):
            self.dates.add(value.isoformat()[:10])
            self.numbers.update({float(value.year), float(value.month), float(value.day)})
        elif isinstance(value, str):
            for m in _DATE.finditer(value):
                self.dates.add(m.group(0))
            for m in _NUMBER.finditer(_DATE.sub(" ", value)):
                parsed = _parse(m)
                if parsed is not None:
                    self.numbers.add(parsed[0])
        elif isinstance(value, dict):
            for v in value.values():
                self.add(v)
        elif isinstance(value, (list, tuple, set)):
            for v in value:
                self.add(v)

    def add_all(self, values: Iterable[Any]) -> None:
        """``add`` each of ``values``."""
        for v in values:
            self.add(v)


def _parse(m: re.Match) -> tuple[float, float] | None:
    """(value, tolerance) of a number token; None when it does not parse."""
    raw = m.group(2).replace(",", "")
    try:
        value = float(raw)
    except ValueError:
        return None
    decimals = len(raw.split(".")[1]) if "." in raw else 0
    scale = _SUFFIX.get(m.group(3) or "", 1.0)
    return value * scale, 0.5 * (10 ** -decimals) * scale + 1e-9


def _answer_body(answer: str) -> str:
    """The answer without its Sources footer and citation marks ``[n]``."""
    return _CITATION.sub(" ", answer.split("#### Sources")[0])


def numbers_in(answer: str) -> list[float]:
    """Every number written in ``answer`` (markdown), as a value: thousands separators removed,
    K/M/B suffixes applied (``3.1M`` -> 3100000.0), percent signs kept off (``63.4%`` -> 63.4).
    Dates, citation marks and the Sources footer are skipped."""
    body = _DATE.sub(" ", _answer_body(answer))
    return [parsed[0] for m in _NUMBER.finditer(body) if (parsed := _parse(m)) is not None]


def check(answer: str, sources: GroundingSources) -> GroundingResult:
    """Check every number and date of ``answer`` (markdown) against ``sources``."""
    body = _answer_body(answer)
    result = GroundingResult()
    for m in _DATE.finditer(body):
        result.checked += 1
        if m.group(0) not in sources.dates:
            result.unmatched.append(m.group(0))
    body = _DATE.sub(" ", body)
    numbers = sorted(sources.numbers)
    for m in _NUMBER.finditer(body):
        parsed = _parse(m)
        if parsed is None:
            continue
        value, tol = parsed
        if not m.group(1) and not m.group(3) and value.is_integer() and 0 <= value <= 3:
            continue
        result.checked += 1
        percent = m.group(3) == "%"
        if any(abs(v - value) <= tol or (percent and abs(v * 100 - value) <= tol) for v in numbers):
            continue
        result.unmatched.append(m.group(0).strip())
    return result


def caveat(result: GroundingResult) -> str:
    """The visible caveat appended to an answer with unmatched numbers ('' when all matched)."""
    if not result.unmatched:
        return ""
    shown = ", ".join(dict.fromkeys(result.unmatched))[:300]
    return f"> **Caveat:** these figures could not be traced to a query or document of this run: {shown}. Treat them as unverified."
