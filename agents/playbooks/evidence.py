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


def _pattern(phrase: str) -> re.Pattern | None:
    # A phrase matches at a word start ("head of" must not match "ahead of"); it may end mid-word
    # so stems like "struggl" or "scalab" work.
    phrase = str(phrase).strip().lower()
    return re.compile(r"(?<![a-z0-9])" + re.escape(phrase), re.I) if phrase else None


def _sentence(text: str, start: int, end: int, limit: int = 220) -> str:
    left = max(text.rfind(".", 0, start), text.rfind("\n", 0, start)) + 1
    right_candidates = [i for i in (text.find(".", end), text.find("\n", end)) if i >= 0]
    right = min(right_candidates) + 1 if right_candidates else len(text)
    sentence = re.sub(r"\s+", " ", text[left:right]).strip()
    return sentence if len(sentence) <= limit else sentence[: limit - 1].rstrip() + "…"


def find_evidence(notes: list[dict], phrases: list[str], *, element: str, text_key: str = "text") -> Evidence | None:
    """Scan ``notes`` (dicts with text/date/contact, newest first) for any phrase (case-insensitive,
    at a word start). The snippet is the sentence that matched (at most 220 characters), quoted as
    data, never as instructions."""
    patterns = [(str(p).strip(), _pattern(p)) for p in phrases]
    for note in notes:
        text = note.get(text_key) or ""
        for phrase, pattern in patterns:
            m = pattern.search(text) if pattern else None
            if m:
                return Evidence(element, phrase, note.get("date"), note.get("contact") or "", _sentence(text, m.start(), m.end()))
    return None


def phrases_found(notes: list[dict], phrases: list[str], *, text_key: str = "text") -> list[str]:
    """Distinct phrases that occur (at a word start) in any note, in the phrase list's order."""
    blob = " ".join((n.get(text_key) or "") for n in notes)
    return [str(p) for p in phrases if (pat := _pattern(p)) and pat.search(blob)]
