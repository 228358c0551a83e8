"""Targets (quotas): the ``rule_set: targets`` knowledge-base document, validated with pydantic.

RevOps editors keep revenue targets per calendar quarter and per team scope in a KB document
(versioned and edited like every other document, issue 11). Shape of the front matter::

    rule_set: targets
    currency: USD                 # the only currency understood
    measure: won_revenue          # what a target is compared with: closed-won revenue (USD)
    targets:
      - {period: Q3 2025, amount: 3300000}                               # whole company
      - {period: Q3 2025, scope: office, value: East, amount: 1000000}   # one regional office
      - {period: Q3 2025, scope: manager, value: Cara Losch, amount: 550000}
      - {period: Q3 2025, scope: owner, value: Darcel Schlecht, amount: 120000}

``scope`` is ``company`` (the default) or the name of a dimension of the tenant's semantic model
(``office``, ``manager``, ``owner`` in the demo model); ``value`` is that dimension's value. Amounts
are USD, >= 0. Periods are calendar quarters written ``Q<n> <year>``.

Errors are ``"<key path>: <what is wrong>"`` strings (``targets[2].amount: must be a number >= 0
(USD), got -5``), the convention of :mod:`knowledge.validation`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Iterable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

RULE_SET = "targets"
COMPANY = "company"
_PERIOD_RE = re.compile(r"^\s*Q([1-4])[\s-]*((?:19|20)\d{2})\s*$", re.I)
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class TargetsInvalid(ValueError):
    """The targets document does not validate; ``errors`` lists ``"<path>: <problem>"`` lines."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("; ".join(errors))


def quarter_range(label: str) -> tuple[dt.date, dt.date]:
    """``(first day, last day)`` of a quarter written ``Q3 2025`` (also ``q3-2025``).
    Raises ValueError on anything else."""
    m = _PERIOD_RE.match(str(label))
    if not m:
        raise ValueError(f"must be a quarter like 'Q3 2025', got {label!r}")
    q, year = int(m.group(1)), int(m.group(2))
    start = dt.date(year, 3 * (q - 1) + 1, 1)
    end = dt.date(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1) - dt.timedelta(days=1)
    return start, end


class Target(BaseModel):
    """One target: a quarter, a scope (``company`` or a semantic-model dimension and its value)
    and an amount in USD."""

    model_config = ConfigDict(extra="allow")

    period: str
    scope: str = COMPANY
    value: str | None = None
    amount: float = Field(description="USD")

    @field_validator("period", mode="before")
    @classmethod
    def _quarter(cls, value: Any) -> str:
        start, _ = quarter_range(value)  # ValueError -> "must be a quarter like 'Q3 2025'"
        return f"Q{(start.month - 1) // 3 + 1} {start.year}"

    @field_validator("scope", mode="before")
    @classmethod
    def _scope_name(cls, value: Any) -> str:
        if value is None:
            return COMPANY
        if not isinstance(value, str) or not _NAME_RE.match(value):
            raise ValueError(f"must be 'company' or a dimension name of the semantic model such as office, got {value!r}")
        return value

    @field_validator("amount", mode="before")
    @classmethod
    def _non_negative(cls, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"must be a number >= 0 (USD), got {value!r}")
        return float(value)

    @field_validator("value", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"must be a non-empty text (the dimension's value), got {value!r}")
        return value.strip()

    @model_validator(mode="after")
    def _value_with_scope(self) -> "Target":
        if self.scope == COMPANY and self.value is not None:
            raise ValueError(f"a company-wide target takes no 'value' (got {self.value!r}); set 'scope' to a dimension such as office")
        if self.scope != COMPANY and self.value is None:
            raise ValueError(f"a '{self.scope}' target needs 'value': which {self.scope} it is for")
        return self

    @property
    def key(self) -> tuple[str, str, str | None]:
        """``(period, scope, value)``: unique within a document."""
        return (self.period, self.scope, self.value)

    def describe(self) -> str:
        """``company`` or ``office East``."""
        return COMPANY if self.scope == COMPANY else f"{self.scope} {self.value}"


class TargetsSpec(BaseModel):
    """The front matter of a ``rule_set: targets`` document (module docstring for the shape)."""

    model_config = ConfigDict(extra="allow")

    rule_set: str = RULE_SET
    currency: str = "USD"
    measure: str = "won_revenue"
    targets: list[Target] = Field(min_length=1)

    @field_validator("currency")
    @classmethod
    def _usd(cls, value: str) -> str:
        if value.upper() != "USD":
            raise ValueError(f"only USD is supported, got {value!r}")
        return "USD"

    @model_validator(mode="after")
    def _unique(self) -> "TargetsSpec":
        seen: dict[tuple, int] = {}
        for i, t in enumerate(self.targets):
            if t.key in seen:
                raise ValueError(f"targets[{i}]: a second target for {t.period}, {t.describe()} (first at targets[{seen[t.key]}])")
            seen[t.key] = i
        return self

    def scopes(self) -> set[str]:
        """Dimension names the targets are set on (``company`` excluded)."""
        return {t.scope for t in self.targets if t.scope != COMPANY}

    def find(self, *, period: str, scope: str = COMPANY, value: str | None = None) -> Target | None:
        """The target of quarter ``period`` (``Q3 2025``) for the scope; value compared
        case-insensitively. None when the document sets none."""
        want = (value or "").casefold()
        for t in self.targets:
            if t.period == period and t.scope == scope and (t.value or "").casefold() == want:
                return t
        return None


def _path(loc: Iterable) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_targets(params: dict, *, dimensions: Iterable[str] | None = None) -> TargetsSpec:
    """Validate the front matter of a targets document and return it parsed.

    ``dimensions`` (the semantic model's dimension names), when given, is checked against each
    target's ``scope``. Raises TargetsInvalid with one ``"<path>: <problem>"`` line per problem,
    e.g. ``targets[1].scope: unknown dimension 'regon'; the semantic model has: manager, office,
    owner``, ``targets[0].period: must be a quarter like 'Q3 2025', got '2025Q3'``.
    """
    try:
        spec = TargetsSpec.model_validate(params)
    except ValidationError as exc:
        errors = []
        for e in exc.errors():
            message = str(e["msg"]).removeprefix("Value error, ")
            if e["type"] == "missing":
                message = "missing (required)"
            path = _path(e["loc"])
            errors.append(f"{path}: {message}" if path else message)
        raise TargetsInvalid(errors) from None
    if dimensions is not None:
        known = set(dimensions)
        errors = [
            f"targets[{i}].scope: unknown dimension {t.scope!r}; the semantic model has: {', '.join(sorted(known))}"
            for i, t in enumerate(spec.targets)
            if t.scope != COMPANY and t.scope not in known
        ]
        if errors:
            raise TargetsInvalid(errors)
    return spec


def targets_errors(params: dict, *, dimensions: Iterable[str] | None = None) -> list[str]:
    """The problems of a targets front matter as ``"<path>: <problem>"`` lines (``[]`` when valid):
    the shape :mod:`knowledge.validation` registers per ``rule_set``."""
    try:
        parse_targets(params, dimensions=dimensions)
    except TargetsInvalid as exc:
        return exc.errors
    return []
