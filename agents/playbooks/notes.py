"""Extractive reading of call notes for the deal copilot: sentences, summary sentences, objections
(cue phrases and categories), competitor names. Pure text functions: no warehouse, no model.

Rules (all deterministic, documented here and in the KB):

- **Sentences**: a note is split after ``.``, ``!`` or ``?`` followed by white space, and at blank
  lines; white space is collapsed. A leading salutation (``"Paul,"``) is dropped; sign-offs
  (``Best regards``, ``Looking forward ...``, ``Thanks``), placeholders (``[Your Name]``) and fragments under
  :data:`MIN_WORDS` words are not *informative*.
- **Summary** of a note: its first :data:`SUMMARY_SENTENCES` informative sentences, quoted as
  written (reps put the gist first: who, what was discussed, the ask).
- **Objection**: a sentence containing an objection cue phrase at a word start (the KB's
  ``objection_cues`` in the ``competitors`` document, else :data:`DEFAULT_OBJECTION_CUES`)
  and no negation such as "no concerns" (:data:`NEGATIONS`). Its **category** is the first
  category, in the KB's order, one of whose keywords occurs in the sentence, else ``other``.
- **Competitor mention**: a competitor name from the KB's ``competitors`` list occurring at a word
  start (case-insensitive); one note counts once per competitor however often it names it.

Phrases match at a word start and may end mid-word, as in :mod:`agents.playbooks.evidence`
("integrat" matches "integration").
"""

from __future__ import annotations

import re
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MIN_WORDS = 6
SUMMARY_SENTENCES = 2
QUOTE_LIMIT = 320  # characters of one quoted sentence

# Buyer-voiced hesitation. Generic offers ("address any concerns") are deliberately absent.
DEFAULT_OBJECTION_CUES: tuple[str, ...] = (
    "concerns about", "concern about", "concerns regarding", "concern regarding", "concerned about",
    "concerns over", "concerns with", "expressed concern", "raised concern", "main concern", "key concern",
    "primary concern", "lingering concern", "major concern", "hesitat", "apprehens",
    "reservation", "skeptic", "sceptic", "doubts", "doubtful", "worried", "worries", "pushback", "push back",
    "objection", "too expensive", "budget constraint", "price sensitiv", "not convinced",
)
DEFAULT_OBJECTION_CATEGORIES: dict[str, tuple[str, ...]] = {
    "cost and budget": ("cost", "budget", "price", "pricing", "expensive", "roi", "return on investment", "afford"),
    "security and compliance": ("security", "compliance", "regulat", "privacy", "data protection"),
    "downtime and disruption": ("downtime", "disrupt", "migration", "transition", "overhaul", "continuity"),
    "integration and compatibility": ("integrat", "compatib", "existing system", "infrastructure", "legacy", "interoperab"),
    "scalability and performance": ("scalab", "performance", "real-time", "capacity", "speed", "adaptab", "flexib"),
    "timeline": ("timeline", "delay", "deadline", "timing"),
    "training and support": ("training", "support", "onboarding", "learning curve", "resource"),
    "competition": ("competitor", "competing", "competitive", "alternative"),
}
OTHER = "other"
# "no concerns" is not an objection; "address any (specific) concerns" is the rep's offer, not the buyer's.
NEGATIONS = re.compile(
    r"\bno (immediate |major |significant |real )?(blockers?|concerns?|objections?|reservations?|hesitation)\b"
    r"|\bany (\w+ ){0,2}(concerns?|reservations?|questions)\b",
    re.I,
)

_SPLIT = re.compile(r"(?<=[.!?])\s+|\n\s*\n")
_SALUTATION = re.compile(r"^(hi|hello|dear)?\s*[A-Z][\w'’-]*,\s+")
_NOT_INFORMATIVE = re.compile(
    r"\[(your|my)\b|^(best|kind|warm)?\s*regards\b|^looking forward\b|^thanks\b|^cheers\b|^sincerely\b",
    re.I,
)


class CompetitorRules(BaseModel):
    """The ``competitors`` KB document's front matter as the copilot reads it.

    ``competitors``: names reps write in call notes; ``generic_phrases``: wording that marks a
    competitive mention without a name; ``objection_cues`` / ``objection_categories``
    ({category: [keywords]}, order = precedence) default to this module's constants when the
    document does not set them; ``when_present``: the playbook's advice when a competitor is
    present (a next best action), "" when the document gives none.
    """

    model_config = ConfigDict(extra="allow")

    competitors: list[str] = Field(default_factory=list)
    generic_phrases: list[str] = Field(default_factory=list)
    objection_cues: list[str] = Field(default_factory=lambda: list(DEFAULT_OBJECTION_CUES), min_length=1)
    objection_categories: dict[str, list[str]] = Field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_OBJECTION_CATEGORIES.items()})
    when_present: str = ""


class RiskActionRules(BaseModel):
    """The ``deal_risks`` KB document's front matter as the copilot reads it: ``thresholds``
    {warning: days or count} and ``actions`` {warning: next best action text}; the ``meddpicc_gap``
    action may use ``{element}``, ``{stage}`` and ``{probability}``."""

    model_config = ConfigDict(extra="allow")

    thresholds: dict[str, int] = Field(default_factory=dict)
    actions: dict[str, str] = Field(default_factory=dict)


class NotesRulesInvalid(ValueError):
    """A KB document's copilot keys have the wrong shape; the message names the key path."""


def parse_rules(model: type[BaseModel], params: dict) -> BaseModel:
    """Validate ``params`` (a KB document's front matter) with ``model``; raises NotesRulesInvalid
    with ``key.path: problem`` messages."""
    try:
        return model.model_validate(params or {})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise NotesRulesInvalid(problems) from exc


@lru_cache(maxsize=512)
def _pattern(phrase: str) -> re.Pattern:
    return re.compile(r"(?<![a-z0-9])" + re.escape(phrase.strip().lower()), re.I)


def has_phrase(text: str, phrase: str) -> bool:
    """Whether ``phrase`` occurs in ``text`` at a word start (case-insensitive)."""
    return bool(phrase.strip()) and bool(_pattern(phrase).search(text or ""))


def sentences(text: str) -> list[str]:
    """The sentences of a note, white space collapsed, a leading salutation removed."""
    out = []
    for raw in _SPLIT.split(text or ""):
        s = re.sub(r"\s+", " ", raw).strip()
        s = _SALUTATION.sub("", s) if not out else s
        if s:
            out.append(s)
    return out


def informative(sentence: str) -> bool:
    """At least :data:`MIN_WORDS` words and not a sign-off, thanks line or template placeholder."""
    return len(sentence.split()) >= MIN_WORDS and not _NOT_INFORMATIVE.search(sentence)


def quote(sentence: str) -> str:
    """The sentence cut to :data:`QUOTE_LIMIT` characters (an ellipsis marks a cut)."""
    return sentence if len(sentence) <= QUOTE_LIMIT else sentence[: QUOTE_LIMIT - 1].rstrip() + "…"


def summary_sentences(text: str, k: int = SUMMARY_SENTENCES) -> list[str]:
    """The first ``k`` informative sentences of a note, quoted as written."""
    return [quote(s) for s in sentences(text) if informative(s)][:k]


def objection_sentences(text: str, cues: list[str]) -> list[str]:
    """Sentences of a note that contain an objection cue and no negation ("no concerns")."""
    return [quote(s) for s in sentences(text) if any(has_phrase(s, c) for c in cues) and not NEGATIONS.search(s)]


def objection_category(sentence: str, categories: dict[str, list[str]]) -> str:
    """The first category (in ``categories`` order) with a keyword in ``sentence``, else ``other``."""
    return next((name for name, words in categories.items() if any(has_phrase(sentence, w) for w in words)), OTHER)


def competitors_in(text: str, names: list[str]) -> list[str]:
    """Competitor ``names`` the text mentions (at a word start), in the list's order."""
    return [n for n in names if has_phrase(text, n)]


def sentence_with(text: str, phrase: str) -> str:
    """The first sentence of ``text`` containing ``phrase`` (quoted), "" when none does."""
    return next((quote(s) for s in sentences(text) if has_phrase(s, phrase)), "")
