"""Validation of a document's YAML front matter, per document kind and per ``rule_set``.

The agents read rule parameters from front matter (stage probabilities, risk thresholds, ICP
weights...), so a typo there changes answers. Every save checks the keys this module knows;
unknown keys are allowed (editors may keep notes), known keys must have the right shape.
Problems are returned as ``"<key path>: <what is wrong>"`` strings, e.g.
``"stages.Negotiate.probability: must be a number from 0 to 100, got 'high'"``.

Checked for every kind:

- ``kind`` (optional) must equal the document's kind; ``status`` draft/published; ``tags`` a list
  of strings (or one comma-separated string); ``title`` a string; ``rule_set`` a lower-case name.

By ``rule_set`` (the names the agents look up, DESIGN.md §4), required keys first:

- ``deal_stages``: ``stages`` {stage: {probability 0-100, requires: [MEDDPICC elements]}};
  ``crm_stage_map`` {CRM stage: a stage above}; ``evidence_phrases`` {element: [phrases]}.
- ``deal_health``: ``dimensions`` {key: {label, signals: [names]}}, ``bands`` [{min 0-100, label}]
  with strictly decreasing ``min``; ``recent_activity_days`` >= 0; ``signal_phrases``.
- ``deal_risks``: ``thresholds`` {name: integer >= 0}.
- ``churn``: ``weights`` {segment: {component: 0-100}} each segment summing to 100; ``bands``
  [{max 0-100, label}] with strictly increasing ``max`` ending at 100.
- ``icp`` (also any ``icp`` document): ``weights`` {part: number >= 0}, ``industries``
  {name: 0-1}, ``employee_bands`` [{min >= 0, score 0-1}], ``title_tiers`` {tier: {score 0-1,
  keywords: [..]}}, ``fit_bands`` [{min 0-1, label}].
- ``semantic_model`` (also any ``semantic_model`` document with ``entities``): the pydantic
  schema of :mod:`knowledge.semantic_model` (entities, relationships, dimensions, measures,
  metrics, stages; cross-references checked).
- ``competitors``: ``competitors`` [names], ``generic_phrases`` [phrases].

By kind: ``sql_pattern`` ``parameters`` {name: {type: string|integer|number|date|boolean}} and
``tables`` [names]; ``workflow`` ``steps`` [strings or mappings], ``trigger`` string.
"""

from __future__ import annotations

import re
from typing import Any, Callable

MEDDPICC = (
    "metrics",
    "economic_buyer",
    "decision_criteria",
    "decision_process",
    "paper_process",
    "identify_pain",
    "champion",
    "competition",
)
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_SQL_TYPES = {"string", "integer", "number", "date", "boolean"}

Check = Callable[[Any, str, list[str]], None]


def _fmt(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def number(low: float | None = None, high: float | None = None, *, integer: bool = False) -> Check:
    """A check that the value is a number (an integer when ``integer``) within [low, high]."""
    def check(value: Any, path: str, errors: list[str]) -> None:
        ok = _is_number(value) and (not integer or float(value).is_integer())
        ok = ok and (low is None or value >= low) and (high is None or value <= high)
        if not ok:
            what = "an integer" if integer else "a number"
            if low is not None and high is not None:
                what += f" from {low:g} to {high:g}"
            elif low is not None:
                what += f" >= {low:g}"
            errors.append(f"{path}: must be {what}, got {_fmt(value)}")

    return check


def string(value: Any, path: str, errors: list[str]) -> None:
    """Check that ``value`` is a non-empty string; appends ``"<path>: ..."`` to ``errors``."""
    if not isinstance(value, str) or not value.strip():
        errors.append(f"{path}: must be a non-empty text, got {_fmt(value)}")


def list_of(item: Check, *, non_empty: bool = False) -> Check:
    """A check that the value is a list (non-empty when asked) whose items pass ``item``."""
    def check(value: Any, path: str, errors: list[str]) -> None:
        if not isinstance(value, list):
            errors.append(f"{path}: must be a list, got {_fmt(value)}")
            return
        if non_empty and not value:
            errors.append(f"{path}: must not be empty")
        for index, element in enumerate(value):
            item(element, f"{path}[{index}]", errors)

    return check


def mapping_of(item: Check, *, non_empty: bool = False) -> Check:
    """A check that the value is a mapping (non-empty when asked) whose values pass ``item``."""
    def check(value: Any, path: str, errors: list[str]) -> None:
        if not isinstance(value, dict):
            errors.append(f"{path}: must be a mapping (key: value lines), got {_fmt(value)}")
            return
        if non_empty and not value:
            errors.append(f"{path}: must not be empty")
        for key, element in value.items():
            item(element, f"{path}.{key}", errors)

    return check


def record(fields: dict[str, Check], *, required: tuple[str, ...] = ()) -> Check:
    """A check that the value is a mapping whose listed ``fields`` pass their checks and whose
    ``required`` keys are present; other keys are allowed (editors may add their own)."""
    def check(value: Any, path: str, errors: list[str]) -> None:
        if not isinstance(value, dict):
            errors.append(f"{path}: must be a mapping, got {_fmt(value)}")
            return
        for key in required:
            if key not in value:
                errors.append(f"{path}: missing {key!r}")
        for key, field_check in fields.items():
            if key in value:
                field_check(value[key], f"{path}.{key}", errors)

    return check


def one_of(choices: tuple[str, ...] | set[str]) -> Check:
    """A check that the value is one of ``choices``."""
    def check(value: Any, path: str, errors: list[str]) -> None:
        if value not in choices:
            errors.append(f"{path}: must be one of {', '.join(sorted(choices))}, got {_fmt(value)}")

    return check


def _bands(key: str, *, high: float, increasing: bool, last: float | None = None) -> Check:
    item = record({key: number(0, high), "label": string}, required=(key, "label"))

    def check(value: Any, path: str, errors: list[str]) -> None:
        before = len(errors)
        list_of(item, non_empty=True)(value, path, errors)
        if len(errors) != before:
            return
        bounds = [band[key] for band in value]
        pairs = list(zip(bounds, bounds[1:]))
        if increasing and any(b <= a for a, b in pairs):
            errors.append(f"{path}: '{key}' values must be strictly increasing, got {bounds}")
        if not increasing and any(b >= a for a, b in pairs):
            errors.append(f"{path}: '{key}' values must be strictly decreasing, got {bounds}")
        if last is not None and bounds[-1] != last:
            errors.append(f"{path}: the last band must have {key} {last:g}, got {bounds[-1]}")

    return check


def _rules(fields: dict[str, Check], required: tuple[str, ...]) -> Check:
    return record(fields, required=required)


_STAGE = record({"probability": number(0, 100), "requires": list_of(one_of(MEDDPICC))}, required=("probability",))


def _deal_stages(value: Any, path: str, errors: list[str]) -> None:
    record(
        {
            "stages": mapping_of(_STAGE, non_empty=True),
            "crm_stage_map": mapping_of(string),
            "evidence_phrases": record({k: list_of(string) for k in MEDDPICC}),
        },
        required=("stages",),
    )(value, path, errors)
    stages, stage_map = value.get("stages"), value.get("crm_stage_map")
    if isinstance(stages, dict) and isinstance(stage_map, dict):
        for crm_stage, stage in stage_map.items():
            if isinstance(stage, str) and stage not in stages:
                errors.append(f"crm_stage_map.{crm_stage}: {stage!r} is not one of the stages ({', '.join(stages)})")
    phrases = value.get("evidence_phrases")
    if isinstance(phrases, dict):
        for key in phrases:
            if key not in MEDDPICC:
                errors.append(f"evidence_phrases.{key}: not a MEDDPICC element ({', '.join(MEDDPICC)})")


def _churn(value: Any, path: str, errors: list[str]) -> None:
    before = len(errors)
    record(
        {
            "segments": list_of(string),
            "weights": mapping_of(mapping_of(number(0, 100)), non_empty=True),
            "bands": _bands("max", high=100, increasing=True, last=100),
        },
        required=("weights", "bands"),
    )(value, path, errors)
    if len(errors) == before:
        for segment, weights in value["weights"].items():
            total = sum(weights.values())
            if abs(total - 100) > 1e-9:
                errors.append(f"weights.{segment}: must add up to 100 points, got {total:g}")


RULE_SETS: dict[str, Check] = {
    "deal_stages": _deal_stages,
    "deal_health": _rules(
        {
            "dimensions": mapping_of(
                record({"label": string, "signals": list_of(string, non_empty=True)}, required=("signals",)),
                non_empty=True,
            ),
            "signal_phrases": mapping_of(list_of(string)),
            "recent_activity_days": number(0, integer=True),
            "bands": _bands("min", high=100, increasing=False, last=0),
        },
        ("dimensions", "bands"),
    ),
    "deal_risks": _rules({"thresholds": mapping_of(number(0, integer=True), non_empty=True)}, ("thresholds",)),
    "churn": _churn,
    "icp": _rules(
        {
            "weights": mapping_of(number(0), non_empty=True),
            "industries": mapping_of(number(0, 1)),
            "industry_aliases": mapping_of(string),
            "employee_bands": list_of(record({"min": number(0), "score": number(0, 1), "label": string}, required=("min", "score"))),
            "title_tiers": mapping_of(record({"score": number(0, 1), "keywords": list_of(string)}, required=("score",))),
            "technical_phrases": list_of(string),
            "fit_bands": _bands("min", high=1, increasing=False, last=0),
        },
        ("weights",),
    ),
    "semantic_model": lambda params, path, errors: _semantic_model(params, errors),
    "competitors": _rules({"competitors": list_of(string, non_empty=True), "generic_phrases": list_of(string)}, ("competitors",)),
}

def _semantic_model(params: dict, errors: list[str]) -> None:
    """Validate a semantic model with its pydantic schema; messages are ``key.path: problem``."""
    from knowledge.semantic_model import SemanticModelInvalid, parse_semantic_model

    try:
        parse_semantic_model(params)
    except SemanticModelInvalid as exc:
        errors.extend(exc.errors)


# Kind-level checks for documents without a rule_set (keys are optional there).
KINDS: dict[str, Check] = {
    "sql_pattern": _rules(
        {
            "parameters": mapping_of(record({"type": one_of(_SQL_TYPES), "description": string}, required=("type",))),
            "tables": list_of(string),
        },
        (),
    ),
    "workflow": _rules(
        {
            "trigger": string,
            "steps": list_of(lambda v, p, e: None if isinstance(v, (str, dict)) else e.append(f"{p}: must be a text or a mapping")),
        },
        (),
    ),
}


def _tags(value: Any, path: str, errors: list[str]) -> None:
    if isinstance(value, str):
        return
    list_of(string)(value, path, errors)


def validate_document_params(*, kind: str, params: dict) -> list[str]:
    """Problems of the front matter ``params`` of a document of ``kind``; ``[]`` when valid.

    The document kind itself is validated by the model field; an unknown ``rule_set`` is allowed
    (a rule set of the editors' own, not read by the agents) as long as it is a lower-case name.
    """
    errors: list[str] = []
    from knowledge.models import DocumentKind, DocumentStatus  # circular: models imports this lazily

    if "kind" in params:
        if params["kind"] not in DocumentKind.values:
            errors.append(f"kind: must be one of {', '.join(DocumentKind.values)}, got {_fmt(params['kind'])}")
        elif params["kind"] != kind:
            errors.append(f"kind: the front matter says {params['kind']!r} but the document kind is {kind!r}; make them agree")
    if "status" in params:
        one_of(set(DocumentStatus.values))(params["status"], "status", errors)
    if "title" in params:
        string(params["title"], "title", errors)
    if "tags" in params:
        _tags(params["tags"], "tags", errors)
    rule_set = params.get("rule_set")
    if rule_set is not None:
        if not isinstance(rule_set, str) or not _NAME_RE.match(rule_set):
            errors.append(f"rule_set: must be a lower-case name such as deal_stages, got {_fmt(rule_set)}")
        elif rule_set in RULE_SETS:
            RULE_SETS[rule_set](params, "", errors)
            return [e[1:] if e.startswith(".") else e for e in errors]
    if kind == "icp":
        RULE_SETS["icp"]({"weights": {"_": 1}, **params}, "", errors)
    elif kind == "semantic_model" and "entities" in params:
        RULE_SETS["semantic_model"](params, "", errors)
    elif kind in KINDS:
        KINDS[kind](params, "", errors)
    return [e[1:] if e.startswith(".") else e for e in errors]
