"""Semantic model v2: the editor-owned description of a tenant's warehouse (KB kind ``semantic_model``).

The YAML front matter of the tenant's published ``rule_set: semantic_model`` document is parsed
into :class:`SemanticModelSpec` (pydantic). Everything that reads the warehouse compiles its SQL
from it (``agents.semantic.compiler``); no table, column or join is named in Python.

Shape (see ``knowledge/demo_docs/semantic_model.md`` for a complete example)::

    semantic_model_version: 2
    entities:        {name: {table, primary_key, display, label, description}}
    relationships:   [{from: entity, to: entity, keys: {from_column: to_column}, cardinality}]
    dimensions:      {name: {entity, column | sql, type, label, synonyms, aliases, unit}}
    time_dimensions: {name: {entity, column | sql, label, synonyms}}
    measures:        {name: {entity, agg, dimension, stage_group, filters, time_dimension, unit}}
    metrics:         {name: {measure | numerator + denominator | measure + transform, label, synonyms, unit, description}}
    stages:          {dimension, open: [...], won: [...], lost: [...], order: [...], probabilities: {stage: 0-100}}

Rules the validator enforces (each message names the key path):

- identifiers (tables, columns) are ``[A-Za-z_][A-Za-z0-9_]*``; names are lower-case snake case;
- every entity, dimension, measure and time dimension a key refers to exists;
- a dimension has exactly one of ``column`` or ``sql`` (an expression over its entity's columns);
- ``aliases`` map a raw warehouse value to its canonical spelling (``GTXPro: GTX Pro``): the
  compiler groups and filters on the canonical value;
- a ratio metric names two measures of the same entity; its value is numerator / denominator x 100
  (percent) unless ``percent: false``;
- the stage groups are disjoint and ``probabilities`` are 0-100.

Cardinality: ``many_to_one`` (the default; ``from`` rows each reach at most one ``to`` row) and
``one_to_one`` may be followed from a measure's entity to a dimension's entity; the compiler never
follows a relationship toward the "many" side, so no measure is double counted by a join
(fan-out). ``one_to_many`` is accepted and stored reversed.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")

Ident = Annotated[str, Field(pattern=IDENT_RE.pattern, max_length=63)]
Name = Annotated[str, Field(pattern=NAME_RE.pattern, max_length=63)]
StageGroup = Literal["open", "won", "lost", "closed"]
Aggregation = Literal["count", "count_distinct", "sum", "avg", "median", "min", "max"]
DimensionType = Literal["string", "number", "date", "boolean"]


class DimensionSQLInvalid(ValueError):
    """An ``sql`` dimension expression is not a safe scalar expression over its entity's columns."""


#: Node types an ``sql`` dimension may contain: columns of its entity, literals, arithmetic,
#: comparisons and boolean logic (inside CASE), CASE, COALESCE and a few scalar functions.
#: ``%`` (modulo) is left out: psycopg would read it as a placeholder.
_ALLOWED_SQL_NODES: tuple[type[exp.Expression], ...] = tuple(
    getattr(exp, name)
    for name in (
        "Column", "Identifier", "Literal", "Null", "Boolean", "Paren", "Neg",
        "Add", "Sub", "Mul", "Div", "DPipe",
        "EQ", "NEQ", "GT", "GTE", "LT", "LTE", "And", "Or", "Not", "Is", "In", "Between",
        "Case", "If", "Coalesce", "Nullif", "Least", "Greatest",
        "Extract", "TimestampTrunc", "DateTrunc", "Lower", "Upper", "Trim", "Round", "Abs",
        "Ceil", "Floor", "Cast", "DataType", "DataTypeParam", "Var", "Interval",
    )
    if isinstance(getattr(exp, name, None), type)
)


def parse_dimension_sql(sql: str, *, where: str) -> exp.Expression:
    """Parse an ``sql`` dimension expression and check it uses only its entity's bare columns,
    literals, arithmetic, CASE, COALESCE and allow-listed scalar functions.

    Raises:
        DimensionSQLInvalid: it does not parse, is empty, or uses anything else (a subquery, a
            table, an aggregate, a window, ``%``, a qualified column); the message starts with ``where``.
    """
    try:
        node = sqlglot.parse_one(sql, read="postgres")
    except (ParseError, TokenError) as exc:
        raise DimensionSQLInvalid(f"{where + ': ' if where else ''}the sql expression does not parse ({str(exc).splitlines()[0]})") from None
    if node is None:
        raise DimensionSQLInvalid(f"{where + ': ' if where else ''}the sql expression is empty")
    for sub in node.walk():
        if not isinstance(sub, _ALLOWED_SQL_NODES):
            raise DimensionSQLInvalid(
                f"{where + ': ' if where else ''}the sql expression may use only its entity's columns, literals, arithmetic, "
                f"CASE, COALESCE and scalar functions (EXTRACT, DATE_TRUNC, LOWER, UPPER, TRIM, ROUND, ABS, "
                f"LEAST, GREATEST, NULLIF, CAST); found {sub.key.upper()}: {sub.sql(dialect='postgres')[:80]!r}"
            )
        if isinstance(sub, exp.Column) and (sub.table or sub.args.get("db") or sub.args.get("catalog")):
            raise DimensionSQLInvalid(f"{where + ': ' if where else ''}write bare column names of the entity (found {sub.sql(dialect='postgres')!r})")
    return node



def _checked_sql(value: str | None) -> str | None:
    if value is not None:
        parse_dimension_sql(value, where="")
    return value


class SemanticModelInvalid(ValueError):
    """The front matter is not a valid semantic model; ``errors`` are ``"key.path: message"`` strings."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class EntitySpec(_Spec):
    """One warehouse table: ``table`` (physical), ``primary_key`` and ``display`` (the column that
    names a row, e.g. the account name) as physical columns, ``label`` a singular noun."""

    table: Ident
    primary_key: Ident | None = None
    display: Ident | None = None
    label: str = ""
    description: str = ""

    @field_validator("table")
    @classmethod
    def _not_a_system_table(cls, value: str) -> str:
        # PostgreSQL resolves bare pg_* names in pg_catalog first: never a warehouse table.
        if value.lower().startswith("pg_"):
            raise ValueError("pg_* names are PostgreSQL system catalogs, not warehouse tables")
        return value


class RelationshipSpec(_Spec):
    """A join: ``from`` entity's columns equal ``to`` entity's columns (``keys``: {from_col: to_col}; not ``on``, which YAML reads as true)."""

    from_: Name = Field(alias="from")
    to: Name
    keys: dict[Ident, Ident] = Field(min_length=1)
    cardinality: Literal["many_to_one", "one_to_one", "one_to_many"] = "many_to_one"


class DimensionSpec(_Spec):
    """An attribute to group or filter by: a ``column`` of ``entity`` or an ``sql`` expression over
    that entity's columns (``close_date - engage_date``). ``aliases`` {raw value: canonical value}
    normalise variant spellings; ``synonyms`` are other words for the dimension itself;
    ``unit``: ``usd``, ``usd_millions``, ``days``, ``percent``, ``count`` or empty."""

    entity: Name
    column: Ident | None = None
    sql: str | None = Field(default=None, max_length=500)
    type: DimensionType = "string"
    label: str = ""
    synonyms: list[str] = Field(default_factory=list)
    aliases: dict[str, str] = Field(default_factory=dict)
    unit: str = ""
    link_values: bool = True  # the offline parser matches question words against its distinct values

    @model_validator(mode="after")
    def _one_source(self) -> "DimensionSpec":
        if (self.column is None) == (self.sql is None):
            raise ValueError("give exactly one of 'column' or 'sql'")
        return self

    _sql_is_safe = field_validator("sql")(lambda cls, v: _checked_sql(v))

    @field_validator("aliases", mode="before")
    @classmethod
    def _alias_strings(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        return value


class TimeDimensionSpec(_Spec):
    """A date attribute periods apply to (``close_date``); ``column`` or ``sql`` like a dimension."""

    entity: Name
    column: Ident | None = None
    sql: str | None = Field(default=None, max_length=500)
    label: str = ""
    synonyms: list[str] = Field(default_factory=list)

    _sql_is_safe = field_validator("sql")(lambda cls, v: _checked_sql(v))

    @model_validator(mode="after")
    def _one_source(self) -> "TimeDimensionSpec":
        if (self.column is None) == (self.sql is None):
            raise ValueError("give exactly one of 'column' or 'sql'")
        return self


class MeasureSpec(_Spec):
    """An aggregation over rows of ``entity``: ``agg`` of ``dimension`` (any dimension reachable
    from the entity; omitted for ``count``), restricted to a ``stage_group`` and to ``filters``
    {dimension: [values]}; periods filter on ``time_dimension`` (none: a snapshot measure, a
    period does not apply)."""

    entity: Name
    agg: Aggregation
    dimension: Name | None = None
    stage_group: StageGroup | None = None
    filters: dict[Name, list[str]] = Field(default_factory=dict)
    time_dimension: Name | None = None
    label: str = ""
    unit: str = ""

    @model_validator(mode="after")
    def _needs_dimension(self) -> "MeasureSpec":
        if self.agg != "count" and self.dimension is None:
            raise ValueError(f"'{self.agg}' needs a 'dimension' to aggregate")
        return self


class MetricSpec(_Spec):
    """What people ask for. Exactly one of: ``measure`` (its value), ``numerator`` + ``denominator``
    (a ratio: numerator / denominator, x 100 when ``percent``). ``transform: share_of_total``
    turns a measure into its share of the total over the breakdown (percent).
    ``description`` is the formula shown in the answer."""

    measure: Name | None = None
    numerator: Name | None = None
    denominator: Name | None = None
    percent: bool = True
    transform: Literal["share_of_total"] | None = None
    label: str = ""
    synonyms: list[str] = Field(default_factory=list)
    unit: str = ""
    description: str = ""
    higher_is_better: bool = True

    @model_validator(mode="after")
    def _one_kind(self) -> "MetricSpec":
        simple = self.measure is not None
        ratio = self.numerator is not None or self.denominator is not None
        if simple == ratio:
            raise ValueError("give either 'measure' or both 'numerator' and 'denominator'")
        if ratio and (self.numerator is None or self.denominator is None):
            raise ValueError("a ratio needs both 'numerator' and 'denominator'")
        if self.transform and not simple:
            raise ValueError("'transform' applies to a 'measure' metric")
        return self

    @property
    def is_ratio(self) -> bool:
        """Whether the metric is numerator / denominator."""
        return self.numerator is not None


class StagesSpec(_Spec):
    """Stage semantics: which values of the ``dimension`` are open, won or lost, their pipeline
    ``order`` and win ``probabilities`` (percent, 0-100)."""

    dimension: Name
    open: list[str] = Field(default_factory=list)
    won: list[str] = Field(min_length=1)
    lost: list[str] = Field(min_length=1)
    order: list[str] = Field(default_factory=list)
    probabilities: dict[str, Annotated[float, Field(ge=0, le=100)]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _disjoint(self) -> "StagesSpec":
        seen: dict[str, str] = {}
        for group in ("open", "won", "lost"):
            for value in getattr(self, group):
                if value in seen:
                    raise ValueError(f"stage {value!r} is both {seen[value]!r} and {group!r}")
                seen[value] = group
        return self

    def values(self, group: str) -> list[str]:
        """Stage values of ``group`` (open/won/lost/closed = won + lost)."""
        if group == "closed":
            return [*self.won, *self.lost]
        return list(getattr(self, group))


class SemanticModelSpec(_Spec):
    """The whole model; build with :func:`parse_semantic_model`. Cross-references are checked."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    semantic_model_version: Literal[2] = 2
    entities: dict[Name, EntitySpec] = Field(min_length=1)
    relationships: list[RelationshipSpec] = Field(default_factory=list)
    dimensions: dict[Name, DimensionSpec] = Field(default_factory=dict)
    time_dimensions: dict[Name, TimeDimensionSpec] = Field(default_factory=dict)
    measures: dict[Name, MeasureSpec] = Field(default_factory=dict)
    metrics: dict[Name, MetricSpec] = Field(default_factory=dict)
    stages: StagesSpec | None = None

    @model_validator(mode="after")
    def _references(self) -> "SemanticModelSpec":
        errors: list[str] = []

        def need(kind: str, table: dict, name: str | None, where: str) -> None:
            if name is not None and name not in table:
                errors.append(f"{where + ': ' if where else ''}unknown {kind} {name!r}; known: {', '.join(sorted(table)) or 'none'}")

        for i, rel in enumerate(self.relationships):
            need("entity", self.entities, rel.from_, f"relationships.{i}.from")
            need("entity", self.entities, rel.to, f"relationships.{i}.to")
        for name, dim in self.dimensions.items():
            need("entity", self.entities, dim.entity, f"dimensions.{name}.entity")
        for name, dim in self.time_dimensions.items():
            need("entity", self.entities, dim.entity, f"time_dimensions.{name}.entity")
            if name in self.dimensions:
                errors.append(f"time_dimensions.{name}: a dimension has the same name")
        for name, m in self.measures.items():
            need("entity", self.entities, m.entity, f"measures.{name}.entity")
            need("dimension", self.dimensions, m.dimension, f"measures.{name}.dimension")
            need("time dimension", self.time_dimensions, m.time_dimension, f"measures.{name}.time_dimension")
            for dim in m.filters:
                need("dimension", self.dimensions, dim, f"measures.{name}.filters")
            if m.stage_group and self.stages is None:
                errors.append(f"measures.{name}.stage_group: the model declares no 'stages'")
        for name, metric in self.metrics.items():
            for key in ("measure", "numerator", "denominator"):
                need("measure", self.measures, getattr(metric, key), f"metrics.{name}.{key}")
            if metric.is_ratio and metric.numerator in self.measures and metric.denominator in self.measures:
                a, b = self.measures[metric.numerator], self.measures[metric.denominator]
                if a.entity != b.entity:
                    errors.append(f"metrics.{name}: numerator and denominator must count the same entity ({a.entity} vs {b.entity})")
        if self.stages is not None:
            need("dimension", self.dimensions, self.stages.dimension, "stages.dimension")
        if errors:
            raise ValueError("\n".join(errors))
        return self

    # -- lookups used by the compiler, the parser and the playbooks ------------------------------
    def has_entity(self, name: str) -> bool:
        """Whether the model declares entity ``name`` (optional ones: call_notes...)."""
        return name in self.entities

    def has_dimension(self, name: str) -> bool:
        """Whether ``name`` is a dimension or a time dimension."""
        return name in self.dimensions or name in self.time_dimensions

    def table_names(self) -> set[str]:
        """Physical tables the agents may query (the SQL guard's allow-list)."""
        return {e.table for e in self.entities.values()}

    def stage_values(self, group: str) -> list[str]:
        """Stage values of ``group`` (open/won/lost/closed); raises SemanticModelInvalid when the
        model declares no stages."""
        if self.stages is None:
            raise SemanticModelInvalid(["stages: the model does not declare its stage semantics"])
        return self.stages.values(group)

    # Dimensions the call-note reader (agents.runtime.context.RunContext.call_notes) needs; call
    # notes are optional, and analyses without them say what they could not check.
    CALL_NOTE_DIMENSIONS: ClassVar[tuple[str, ...]] = ("note_contact", "note_type", "note_status", "note_date", "note_text")

    def call_notes_missing(self) -> list[str]:
        """The call-note dimensions (``CALL_NOTE_DIMENSIONS``) and the ``call_notes`` count metric the
        model lacks; ``[]`` when call notes can be read and counted."""
        missing = [d for d in self.CALL_NOTE_DIMENSIONS if not self.has_dimension(d)]
        return missing + ([] if "call_notes" in self.metrics else ["call_notes (metric)"])

    def zero_when_empty(self, metric: str) -> bool:
        """Whether ``metric`` over no rows is 0 rather than undefined: a plain sum or count (SQL gives
        NULL for SUM over nothing); averages, medians, ratios and shares stay n/a."""
        spec = self.metrics.get(metric)
        return bool(spec and spec.measure and not spec.transform and self.measures[spec.measure].agg in ("sum", "count", "count_distinct"))

    def additive(self, metric: str) -> bool:
        """Whether ``metric``'s values over disjoint groups add up to the total: a plain sum or
        count (not a distinct count, which can count one thing in two groups)."""
        spec = self.metrics.get(metric)
        return bool(spec and spec.measure and not spec.transform and self.measures[spec.measure].agg in ("sum", "count"))

    def dimension_label(self, name: str) -> str:
        """Human label of a dimension or time dimension (its name with spaces when unlabelled)."""
        spec = self.dimensions.get(name) or self.time_dimensions.get(name)
        return (spec.label if spec and spec.label else name.replace("_", " "))

    def metric_label(self, name: str) -> str:
        """Human label of a metric."""
        spec = self.metrics.get(name)
        return spec.label if spec and spec.label else name.replace("_", " ")


def _error_path(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("function-after[_one_source(), DimensionSpec]",)]
    return ".".join(p for p in parts if not p.startswith("function-"))


def parse_semantic_model(params: dict) -> SemanticModelSpec:
    """Validate front-matter ``params`` into a :class:`SemanticModelSpec`.

    Raises:
        SemanticModelInvalid: with one ``"key.path: message"`` per problem (pydantic's errors
            reworded; cross-reference errors name the unknown entity/dimension/measure).
    """
    data = {k: v for k, v in params.items() if k not in ("kind", "title", "rule_set", "status", "tags")}
    if "entities" in data and isinstance(data["entities"], dict):
        for spec in data["entities"].values():
            if isinstance(spec, dict) and "columns" in spec:
                raise SemanticModelInvalid(
                    ["entities: this is a version 1 model (entities with 'columns'); version 2 declares "
                     "dimensions, relationships, measures and metrics (see the demo tenant's document)"]
                )
    try:
        return SemanticModelSpec.model_validate(data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            path = _error_path(err["loc"])
            message = err["msg"].removeprefix("Value error, ")
            for line in message.splitlines():
                errors.append(f"{path}: {line}" if path and not line.startswith(path) else line)
        raise SemanticModelInvalid(errors) from None
