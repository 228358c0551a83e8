"""Typed front matter of KB documents: one pydantic model per ``rule_set`` (and per kind).

The agents read rule parameters from front matter (stage probabilities, risk thresholds, ICP
weights...), so a typo there changes answers. Every save (the admin form through
``KnowledgeDocument.clean``, the ``kb_*`` import commands, :func:`knowledge.services.document_save`)
calls :func:`validate_document_params`; readers call :func:`rule_set_parse` (or
:func:`document_rules`, parsed once per document version) and get the typed model.

Problems are ``"<key path>: <what is wrong>"`` strings, e.g.
``"stages.Negotiate.probability: must be a number from 0 to 100, got 175"`` or
``"bands[2].min: must be a number from 0 to 100, got 'x'"`` (list items by index).

Unknown keys are allowed (editors may keep notes, they are kept as extra attributes); known keys
must have the right shape. Checked for every kind (:class:`FrontMatterHeader`): ``kind`` equals
the document's kind; ``status`` draft/published; ``tags`` a list of strings (or one
comma-separated string); ``title`` a string; ``rule_set`` a lower-case name.

By ``rule_set`` (the names the agents look up, DESIGN.md §4; :data:`RULE_SETS`):

- ``deal_stages`` (:class:`DealStagesRules`): ``stages`` {stage: {probability 0-100 (percent),
  requires: [MEDDPICC elements]}}; ``crm_stage_map`` {CRM stage: a stage above};
  ``evidence_phrases`` {MEDDPICC element: [phrases]}.
- ``deal_health`` (:class:`DealHealthRules`): ``dimensions`` {key: {label, signals: [names]}},
  ``bands`` [{min 0-100, label}] with strictly decreasing ``min`` ending at 0;
  ``recent_activity_days`` integer >= 0 (days); ``signal_phrases``.
- ``deal_risks`` (:class:`DealRisksRules`): ``thresholds`` {name: integer >= 0 (days or counts)}.
- ``churn`` (:class:`ChurnRules`): ``weights`` {segment: {component: 0-100 points}} each segment
  summing to 100; ``bands`` [{max 0-100, label}] with strictly increasing ``max`` ending at 100.
- ``icp`` (:class:`IcpRules`; also any ``icp`` document): ``weights`` {part: number >= 0},
  ``industries`` {name: 0-1}, ``employee_bands`` [{min >= 0 employees, score 0-1}],
  ``title_tiers`` {tier: {score 0-1, keywords: [..]}}, ``fit_bands`` [{min 0-1, label}].
- ``competitors`` (:class:`CompetitorsRules`): ``competitors`` [names], ``generic_phrases``.
- ``semantic_model`` (also any ``semantic_model`` document with ``entities``): the pydantic
  schema of :mod:`knowledge.semantic_model` (kept there, registered here the same way).

By kind (:data:`KINDS`): ``sql_pattern`` ``parameters`` {name: {type: string|integer|number|date|boolean}}
and ``tables`` [names]; ``workflow`` ``steps`` [strings or mappings], ``trigger`` string.

The rule models also answer ``model["key"]``, ``model.get("key", default)`` and ``"key" in model``
for the keys the document gave (as the raw front-matter mapping did), so readers written against
the mapping keep working while they move to attributes.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from typing import Any, Callable, Iterator, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator
from typing_extensions import Annotated

from knowledge.kinds import DocumentKind
from knowledge.semantic_model import SemanticModelInvalid, parse_semantic_model
from knowledge.targets import TargetsInvalid, parse_targets

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


class RuleSetInvalid(ValueError):
    """Front matter that does not match its model; ``errors`` are ``"key.path: message"`` strings."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def _fmt(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number_check(low: float | None = None, high: float | None = None, *, integer: bool = False) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        ok = ok and (not integer or float(value).is_integer())
        ok = ok and (low is None or value >= low) and (high is None or value <= high)
        if not ok:
            what = "an integer" if integer else "a number"
            if low is not None and high is not None:
                what += f" from {low:g} to {high:g}"
            elif low is not None:
                what += f" >= {low:g}"
            raise ValueError(f"must be {what}, got {_fmt(value)}")
        return int(value) if integer else value

    return check


def _text_check(value: Any) -> Any:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-empty text, got {_fmt(value)}")
    return value


# Numbers keep their YAML type (an int stays an int), so answers print them as written.
Percent = Annotated[Union[int, float], BeforeValidator(_number_check(0, 100))]
Fraction = Annotated[Union[int, float], BeforeValidator(_number_check(0, 1))]
NonNegative = Annotated[Union[int, float], BeforeValidator(_number_check(0))]
Count = Annotated[int, BeforeValidator(_number_check(0, integer=True))]
Text = Annotated[str, BeforeValidator(_text_check)]
MeddpiccElement = Literal[
    "metrics", "economic_buyer", "decision_criteria", "decision_process", "paper_process", "identify_pain", "champion", "competition"
]


class RuleModel(BaseModel):
    """Base of the front-matter models: extra keys allowed and kept, frozen, and mapping-style
    access to the keys the document gave (see the module doc)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    def _given(self) -> set[str]:
        return set(self.model_fields_set) | set(self.model_extra or {})

    def __getitem__(self, key: str) -> Any:
        if key not in self._given():
            raise KeyError(key)
        return getattr(self, key)

    def __contains__(self, key: object) -> bool:
        return key in self._given()

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key`` when the document gave it, else ``default`` (as ``dict.get``)."""
        return getattr(self, key) if key in self._given() else default

    def keys(self) -> list[str]:
        """The keys the document gave."""
        return [k for k in (*type(self).model_fields, *(self.model_extra or {})) if k in self._given()]

    def items(self) -> Iterator[tuple[str, Any]]:
        """``(key, value)`` for the keys the document gave."""
        return iter([(k, getattr(self, k)) for k in self.keys()])

    def checks(self) -> list[str]:
        """Cross-field problems (``"key.path: message"``) once the fields are valid; none here."""
        return []


class FrontMatterHeader(RuleModel):
    """Keys every document may carry (all optional)."""

    kind: str | None = None
    status: Literal["draft", "published"] | None = None
    title: Text | None = None
    tags: list[Text] | None = None
    rule_set: str | None = None

    @field_validator("tags", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value  # one comma-separated string is fine

    @field_validator("rule_set", mode="before")
    @classmethod
    def _lower_case_name(cls, value: Any) -> Any:
        if value is not None and (not isinstance(value, str) or not _NAME_RE.match(value)):
            raise ValueError(f"must be a lower-case name such as deal_stages, got {_fmt(value)}")
        return value


# --- deal_stages ----------------------------------------------------------------------------------


class StageGate(RuleModel):
    """One methodology stage: default ``probability`` (percent) and the MEDDPICC elements it requires."""

    probability: Percent
    requires: list[MeddpiccElement] = Field(default_factory=list)


class DealStagesRules(RuleModel):
    """``rule_set: deal_stages`` (DESIGN.md §4, deal stages and MEDDPICC)."""

    stages: dict[str, StageGate] = Field(min_length=1)
    crm_stage_map: dict[str, Text] = Field(default_factory=dict)
    evidence_phrases: dict[str, list[Text]] = Field(default_factory=dict)

    def checks(self) -> list[str]:
        errors = [
            f"crm_stage_map.{crm}: {stage!r} is not one of the stages ({', '.join(self.stages)})"
            for crm, stage in self.crm_stage_map.items()
            if stage not in self.stages
        ]
        errors += [
            f"evidence_phrases.{key}: not a MEDDPICC element ({', '.join(MEDDPICC)})"
            for key in self.evidence_phrases
            if key not in MEDDPICC
        ]
        return errors


# --- bands ----------------------------------------------------------------------------------------


def _band_order(bands: list, key: str, *, increasing: bool, last: float) -> list:
    bounds = [getattr(band, key) for band in bands]
    pairs = list(zip(bounds, bounds[1:]))
    if increasing and any(b <= a for a, b in pairs):
        raise ValueError(f"'{key}' values must be strictly increasing, got {bounds}")
    if not increasing and any(b >= a for a, b in pairs):
        raise ValueError(f"'{key}' values must be strictly decreasing, got {bounds}")
    if bounds and bounds[-1] != last:
        raise ValueError(f"the last band must have {key} {last:g}, got {bounds[-1]}")
    return bands


class ScoreBand(RuleModel):
    """A band from ``min`` (0-100 points) upward, named ``label``."""

    min: Percent
    label: Text


class RiskBand(RuleModel):
    """A band up to ``max`` (0-100 points), named ``label``."""

    max: Percent
    label: Text


class FitBand(RuleModel):
    """An ICP fit band from ``min`` (0-1) upward, named ``label``."""

    min: Fraction
    label: Text


# --- deal_health, deal_risks, churn, icp, competitors ---------------------------------------------


class HealthDimension(RuleModel):
    """One health dimension: its ``signals`` (names); worth an equal share of 100 points."""

    label: Text | None = None
    signals: list[Text] = Field(min_length=1)


class DealHealthRules(RuleModel):
    """``rule_set: deal_health`` (DESIGN.md §4, deal health score 0-100 and its bands)."""

    dimensions: dict[str, HealthDimension] = Field(min_length=1)
    signal_phrases: dict[str, list[Text]] = Field(default_factory=dict)
    recent_activity_days: Count | None = None
    bands: list[ScoreBand] = Field(min_length=1)

    @field_validator("bands")
    @classmethod
    def _ordered(cls, bands: list[ScoreBand]) -> list[ScoreBand]:
        return _band_order(bands, "min", increasing=False, last=0)


class DealRisksRules(RuleModel):
    """``rule_set: deal_risks``: ``thresholds`` {warning: integer >= 0 (days or contacts)}."""

    thresholds: dict[str, Count] = Field(min_length=1)
    # Next best action per warning (agents.playbooks.copilot, agents.playbooks.forecast).
    actions: dict[str, Text] = Field(default_factory=dict)


class ChurnRules(RuleModel):
    """``rule_set: churn`` (DESIGN.md §4: churn risk 0-100, higher = riskier; weights per segment)."""

    segments: list[Text] = Field(default_factory=list)
    weights: dict[str, dict[str, Percent]] = Field(min_length=1)
    bands: list[RiskBand] = Field(min_length=1)
    # Read by agents.account_signals (which re-validates them with its own model): signal windows
    # and caps, the usage/contract names in the semantic model, an intervention per top driver,
    # the expansion score's weights (points out of 100).
    signals: dict[str, NonNegative] = Field(default_factory=dict)
    model_names: dict[str, Text] = Field(default_factory=dict)
    interventions: dict[str, Text] = Field(default_factory=dict)
    expansion_weights: dict[str, Percent] = Field(default_factory=dict)

    @field_validator("bands")
    @classmethod
    def _ordered(cls, bands: list[RiskBand]) -> list[RiskBand]:
        return _band_order(bands, "max", increasing=True, last=100)

    def checks(self) -> list[str]:
        errors = []
        for segment, weights in self.weights.items():
            total = sum(weights.values())
            if abs(total - 100) > 1e-9:
                errors.append(f"weights.{segment}: must add up to 100 points, got {total:g}")
        return errors


class EmployeeBand(RuleModel):
    """Companies with at least ``min`` employees score ``score`` (0-1)."""

    min: NonNegative
    score: Fraction
    label: Text | None = None


class TitleTier(RuleModel):
    """Titles containing one of ``keywords`` score ``score`` (0-1)."""

    score: Fraction
    keywords: list[Text] = Field(default_factory=list)


class IcpRules(RuleModel):
    """``rule_set: icp`` (DESIGN.md §4, ICP fit): fit = sum(weight x score) / sum(weights known)."""

    weights: dict[str, NonNegative] = Field(min_length=1)
    industries: dict[str, Fraction] = Field(default_factory=dict)
    industry_aliases: dict[str, Text] = Field(default_factory=dict)
    employee_bands: list[EmployeeBand] = Field(default_factory=list)
    title_tiers: dict[str, TitleTier] = Field(default_factory=dict)
    technical_phrases: list[Text] = Field(default_factory=list)
    fit_bands: list[FitBand] = Field(default_factory=list)

    @field_validator("fit_bands")
    @classmethod
    def _ordered(cls, bands: list[FitBand]) -> list[FitBand]:
        return _band_order(bands, "min", increasing=False, last=0) if bands else bands


class CompetitorsRules(RuleModel):
    """``rule_set: competitors``: competitor names and generic phrases that signal competition."""

    competitors: list[Text] = Field(min_length=1)
    generic_phrases: list[Text] = Field(default_factory=list)
    # The deal copilot (agents.playbooks.notes): advice when a competitor is present, the cue
    # phrases that mark an objection, and objection categories with their keywords.
    when_present: Text | None = None
    objection_cues: list[Text] = Field(default_factory=list)
    objection_categories: dict[str, list[Text]] = Field(default_factory=dict)


# --- kinds without a rule_set ---------------------------------------------------------------------


class SqlParameter(RuleModel):
    """A parameter of a SQL pattern."""

    type: Literal["string", "integer", "number", "date", "boolean"]
    description: Text | None = None


class SqlPatternParams(RuleModel):
    """Front matter of a ``sql_pattern`` document."""

    parameters: dict[str, SqlParameter] = Field(default_factory=dict)
    tables: list[Text] = Field(default_factory=list)


def _step(value: Any) -> Any:
    if not isinstance(value, (str, dict)):
        raise ValueError("must be a text or a mapping")
    return value


class WorkflowParams(RuleModel):
    """Front matter of a ``workflow`` document."""

    trigger: Text | None = None
    steps: list[Annotated[Any, BeforeValidator(_step)]] = Field(default_factory=list)


class SemanticModelRules:
    """``rule_set: semantic_model``: parsed by :func:`knowledge.semantic_model.parse_semantic_model`
    into a ``SemanticModelSpec`` (registered here like the other rule sets)."""

    @staticmethod
    def parse(params: dict) -> Any:
        """The ``SemanticModelSpec`` of front matter ``params``; raises :class:`RuleSetInvalid`
        with one ``"<key path>: <problem>"`` line per problem."""
        try:
            return parse_semantic_model(params)
        except SemanticModelInvalid as exc:
            raise RuleSetInvalid(exc.errors) from None


class TargetsRules:
    """``rule_set: targets``: quotas per quarter and team scope, parsed by
    :func:`knowledge.targets.parse_targets` into a ``TargetsSpec`` (registered like the semantic model)."""

    @staticmethod
    def parse(params: dict) -> Any:
        """The ``TargetsSpec`` of front matter ``params`` (quotas in USD per quarter and scope);
        raises :class:`RuleSetInvalid` with one ``"<key path>: <problem>"`` line per problem."""
        try:
            return parse_targets(params)
        except TargetsInvalid as exc:
            raise RuleSetInvalid(exc.errors) from None


RULE_SETS: dict[str, type[RuleModel] | type[SemanticModelRules] | type[TargetsRules]] = {
    "targets": TargetsRules,
    "deal_stages": DealStagesRules,
    "deal_health": DealHealthRules,
    "deal_risks": DealRisksRules,
    "churn": ChurnRules,
    "icp": IcpRules,
    "semantic_model": SemanticModelRules,
    "competitors": CompetitorsRules,
}
KINDS: dict[str, type[RuleModel]] = {"sql_pattern": SqlPatternParams, "workflow": WorkflowParams}


# --- parsing and messages -------------------------------------------------------------------------


def _path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith("function-"):
            continue  # a validator's name, not a key
        else:
            out += f".{part}" if out else str(part)
    return out


def _messages(exc: ValidationError) -> list[str]:
    out: list[str] = []
    for err in exc.errors(include_url=False):
        loc, kind, value = tuple(err["loc"]), err["type"], err.get("input")
        if kind == "missing":
            parent = _path(loc[:-1])
            out.append(f"{parent}: missing {loc[-1]!r}" if parent else f"missing {loc[-1]!r}")
            continue
        if kind == "too_short":
            message = "must not be empty"
        elif kind == "list_type":
            message = f"must be a list, got {_fmt(value)}"
        elif kind in ("dict_type", "model_type", "model_attributes_type"):
            message = f"must be a mapping (key: value lines), got {_fmt(value)}"
        elif kind == "literal_error":
            expected = str((err.get("ctx") or {}).get("expected", "")).replace("'", "").replace(" or ", ", ")
            message = f"must be one of {expected}, got {_fmt(value)}"
        else:
            message = err["msg"].removeprefix("Value error, ")
        path = _path(loc)
        line = f"{path}: {message}" if path else message
        if line not in out:
            out.append(line)
    return out


def _validate(model: type[RuleModel], params: dict) -> RuleModel:
    try:
        parsed = model.model_validate(params)
    except ValidationError as exc:
        raise RuleSetInvalid(_messages(exc)) from None
    problems = parsed.checks()
    if problems:
        raise RuleSetInvalid(problems)
    return parsed


def rule_set_parse(rule_set: str, params: dict) -> Any:
    """The typed rules of front matter ``params`` declaring ``rule_set``: a :class:`RuleModel`
    subclass from :data:`RULE_SETS` (a ``SemanticModelSpec`` for ``semantic_model``), or a plain
    :class:`RuleModel` for a rule set of the editors' own.

    Raises:
        RuleSetInvalid: ``errors`` lists every problem by key path.
    """
    model = RULE_SETS.get(rule_set, RuleModel)
    if model in (SemanticModelRules, TargetsRules):
        return model.parse(params)
    return _validate(model, params)


_CACHE: OrderedDict[tuple, Any] = OrderedDict()
_CACHE_SIZE = 256
_CACHE_LOCK = threading.Lock()


def document_rules(document: Any, rule_set: str, params: dict) -> Any:
    """:func:`rule_set_parse` of a stored document's front matter ``params``, parsed once per
    document version: cached by (tenant, document id, version, body digest), at most 256 entries
    per process. The result is frozen (shared between runs); do not mutate its dicts or lists.

    Raises:
        RuleSetInvalid: the stored front matter does not validate (saves validate it, so only rows
            written around :func:`knowledge.services.document_save`).
    """
    digest = hashlib.blake2b((document.body or "").encode(), digest_size=16).hexdigest()
    key = (getattr(document, "tenant_id", None), document.pk, getattr(document, "version", None), rule_set, digest)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    parsed = rule_set_parse(rule_set, params)
    with _CACHE_LOCK:
        _CACHE[key] = parsed
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return parsed


def validate_document_params(*, kind: str, params: dict) -> list[str]:
    """Problems of the front matter ``params`` of a document of ``kind``; ``[]`` when valid.

    The document kind itself is validated by the model field; an unknown ``rule_set`` is allowed
    (a rule set of the editors' own, not read by the agents) as long as it is a lower-case name.
    Each problem is ``"<key path>: <message>"`` (module doc).
    """
    errors: list[str] = []
    try:
        header = _validate(FrontMatterHeader, params)
    except RuleSetInvalid as exc:
        errors.extend(exc.errors)
        header = None
    declared = params.get("kind")
    if declared is not None:
        if declared not in DocumentKind.values:
            errors.append(f"kind: must be one of {', '.join(DocumentKind.values)}, got {_fmt(declared)}")
        elif declared != kind:
            errors.append(f"kind: the front matter says {declared!r} but the document kind is {kind!r}; make them agree")
    rule_set = header.rule_set if header is not None else None
    try:
        if rule_set in RULE_SETS:
            rule_set_parse(rule_set, params)
        elif kind == "icp":
            _validate(IcpRules, {"weights": {"_": 1}, **params})
        elif kind == "semantic_model" and "entities" in params:
            SemanticModelRules.parse(params)
        elif kind in KINDS:
            _validate(KINDS[kind], params)
    except RuleSetInvalid as exc:
        errors.extend(exc.errors)
    return errors
