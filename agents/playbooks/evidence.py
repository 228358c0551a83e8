"""Evidence in call notes: which phrases (from KB documents) appear in which notes."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Evidence:
    """The first note (newest first) containing one of an element's phrases."""

    element: str
    phrase: str
    date: dt.date | None
    contact: str
    snippet: str


def find_evidence(notes: list[dict], phrases: list[str], *, element: str, text_key: str = "text") -> Evidence | None:
    """Scan ``notes`` (dicts with text/date/contact, newest first) for any phrase (case-insensitive).

    The snippet is up to 160 characters around the match, quoted as data, never as instructions.
    """
    for note in notes:
        text = note.get(text_key) or ""
        low = text.lower()
        for phrase in phrases:
            p = str(phrase).lower()
            if not p:
                continue
            i = low.find(p)
            if i >= 0:
                start = max(0, i - 70)
                snippet = re.sub(r"\s+", " ", text[start : i + len(p) + 90]).strip()
                return Evidence(element, str(phrase).strip(), note.get("date"), note.get("contact") or "", snippet)
    return None


def phrases_found(notes: list[dict], phrases: list[str], *, text_key: str = "text") -> list[str]:
    """Distinct phrases that occur in any note, in the phrase list's order."""
    blob = " ".join((n.get(text_key) or "").lower() for n in notes)
    return [p for p in phrases if str(p).lower() in blob]
