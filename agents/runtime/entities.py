"""Fuzzy resolution of names in a question (accounts, contacts, agents) with rapidfuzz.

Questions carry misspellings and case changes ("acme corportion"); names in the warehouse carry
their own quirks. A name is found in a question when its normalised form aligns with part of the
question (``fuzz.partial_ratio`` >= cutoff), or when its first distinctive word (4+ letters) is a
word of the question ("acme corp" finds "Acme Corporation"), which scores exactly the cutoff so
a closer full-name match still wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from rapidfuzz import fuzz, utils

DEFAULT_CUTOFF = 88.0
_STOP = {"corporation", "company", "group", "inc", "the", "and", "tech", "systems", "holdings"}


@dataclass(frozen=True)
class NameMatch:
    """``name`` as spelled in the data, ``score`` 0-100 (100 = exact)."""

    name: str
    score: float


def find_name(text: str, candidates: Iterable[str], *, cutoff: float = DEFAULT_CUTOFF) -> NameMatch | None:
    """The candidate that best appears in ``text``, or None below ``cutoff``; ties go to the longer name."""
    query = utils.default_process(text)
    words = set(query.split())
    best: NameMatch | None = None
    for name in {c for c in candidates if c}:
        norm = utils.default_process(name)
        if not norm:
            continue
        score = fuzz.partial_ratio(norm, query) if len(norm) >= 4 else (100.0 if norm in words else 0.0)
        first = next((w for w in norm.split() if len(w) >= 4 and w not in _STOP), None)
        if first and first in words:
            score = max(score, cutoff)
        if score >= cutoff and (
            best is None or score > best.score or (score == best.score and len(name) > len(best.name))
        ):
            best = NameMatch(name, round(score, 1))
    return best


def closest(name: str, candidates: Iterable[str], *, cutoff: float = 80.0) -> NameMatch | None:
    """The candidate closest to a whole ``name`` (``fuzz.WRatio``), e.g. a person's name."""
    best: NameMatch | None = None
    for cand in {c for c in candidates if c}:
        score = fuzz.WRatio(name, cand, processor=utils.default_process)
        if score >= cutoff and (best is None or score > best.score):
            best = NameMatch(cand, round(score, 1))
    return best
