"""Merge the Gong call-notes fragment (``knowledge/semantic_models/gong_calls.md``) into a
semantic model's front matter, so the call-note readers (deal copilot, competitor mentions,
risk warnings) read Gong calls. Pure dict work, validated with
:func:`knowledge.semantic_model.parse_semantic_model`.
"""

from __future__ import annotations

import copy
from pathlib import Path

from django.conf import settings

from knowledge.frontmatter import split_front_matter
from knowledge.semantic_model import parse_semantic_model

FRAGMENT_PATH = Path(settings.BASE_DIR) / "knowledge" / "semantic_models" / "gong_calls.md"
CALL_NOTES = "call_notes"


class GongModelError(ValueError):
    """The model cannot take Gong calls as call notes (the message says why)."""


def uses_gong_calls(front_matter: dict) -> bool:
    """Whether the model's ``call_notes`` entity is already the ``gong_call`` table."""
    entity = (front_matter.get("entities") or {}).get(CALL_NOTES) or {}
    return entity.get("table") == "gong_call"


def has_other_call_notes(front_matter: dict) -> bool:
    """Whether the model reads call notes from a table other than ``gong_call``."""
    return CALL_NOTES in (front_matter.get("entities") or {}) and not uses_gong_calls(front_matter)


def with_gong_calls(front_matter: dict) -> dict:
    """A copy of ``front_matter`` whose call notes are the Gong calls: the former ``call_notes``
    entity and everything declared on it (relationships, dimensions, time dimensions, measures
    and the metrics over those measures) are replaced by the fragment, joined to the model's
    ``accounts`` entity on its primary key.

    Raises:
        GongModelError: the model has no ``accounts`` entity with a primary key.
        knowledge.semantic_model.SemanticModelInvalid: the merged model does not validate.
    """
    fm = copy.deepcopy(front_matter)
    accounts = (fm.get("entities") or {}).get("accounts") or {}
    key = accounts.get("primary_key")
    if not key:
        raise GongModelError("the semantic model has no 'accounts' entity with a primary_key to link Gong calls to")
    fragment, _ = split_front_matter(FRAGMENT_PATH.read_text())
    fm["relationships"] = [r for r in fm.get("relationships") or [] if CALL_NOTES not in (r.get("from"), r.get("to"))]
    for section in ("dimensions", "time_dimensions", "measures"):
        fm[section] = {k: v for k, v in (fm.get(section) or {}).items() if v.get("entity") != CALL_NOTES}
    gone = set((front_matter.get("measures") or {})) - set(fm["measures"])
    fm["metrics"] = {
        k: v for k, v in (fm.get("metrics") or {}).items() if not ({v.get("measure"), v.get("numerator"), v.get("denominator")} & gone)
    }
    fm.setdefault("entities", {})[CALL_NOTES] = fragment["entities"][CALL_NOTES]
    for rel in fragment["relationships"]:
        fm["relationships"].append({**rel, "keys": {k: (key if v == "ACCOUNTS_KEY" else v) for k, v in rel["keys"].items()}})
    for section in ("dimensions", "time_dimensions", "measures", "metrics"):
        fm[section].update(fragment[section])
    parse_semantic_model(fm)
    return fm
