"""The warehouse semantic model, read from the tenant's ``semantic_model`` KB document.

The document's front matter maps logical entities (opportunities, accounts, products,
sales_teams, call_notes) and their logical columns (amount, close_date, owner...) to physical
tables and columns, lists joins and classifies stage values (open/won/lost). Playbooks build SQL
only through this class, so editors can point the agents at a different warehouse layout
without a code change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SemanticModelError(ValueError):
    """The semantic model document is missing, or lacks an entity/column a playbook needs."""


def quote_ident(name: str) -> str:
    """Double-quote an SQL identifier; raises SemanticModelError for anything but [A-Za-z0-9_]."""
    if not _IDENT.match(name):
        raise SemanticModelError(f"invalid identifier in semantic model: {name!r}")
    return f'"{name}"'


@dataclass(frozen=True)
class Entity:
    """One logical entity: its physical ``table`` and logical->physical ``columns``."""

    name: str
    table: str
    columns: dict[str, str]

    def col(self, logical: str, alias: str | None = None) -> str:
        """Quoted, optionally alias-qualified physical column for a logical column name."""
        try:
            physical = self.columns[logical]
        except KeyError:
            raise SemanticModelError(
                f"the semantic model's {self.name!r} entity has no {logical!r} column; "
                f"known: {', '.join(sorted(self.columns))}"
            ) from None
        return f"{alias}.{quote_ident(physical)}" if alias else quote_ident(physical)

    def has(self, logical: str) -> bool:
        """Whether the entity maps the logical column ``logical``."""
        return logical in self.columns

    @property
    def sql_table(self) -> str:
        """The quoted physical table name."""
        return quote_ident(self.table)


@dataclass(frozen=True)
class SemanticModel:
    """Parsed semantic model. ``stages`` maps ``open``/``won``/``lost`` to lists of stage values."""

    entities: dict[str, Entity]
    stages: dict[str, list[str]] = field(default_factory=dict)
    joins: list[str] = field(default_factory=list)
    document_id: int | None = None
    document_title: str = ""
    document_version: int | None = None

    @classmethod
    def from_params(cls, params: dict, *, document=None) -> "SemanticModel":
        """Build from front-matter ``params``; raises SemanticModelError when malformed."""
        raw = params.get("entities")
        if not isinstance(raw, dict) or not raw:
            raise SemanticModelError("the semantic model document has no 'entities' mapping in its front matter")
        entities = {}
        for name, spec in raw.items():
            if not isinstance(spec, dict) or "table" not in spec or not isinstance(spec.get("columns"), dict):
                raise SemanticModelError(f"entity {name!r} needs 'table' and a 'columns' mapping")
            quote_ident(spec["table"])
            for physical in spec["columns"].values():
                quote_ident(str(physical))
            entities[name] = Entity(name, spec["table"], {k: str(v) for k, v in spec["columns"].items()})
        stages = {k: [str(s) for s in v] for k, v in (params.get("stages") or {}).items()}
        return cls(
            entities=entities,
            stages=stages,
            joins=list(params.get("joins") or []),
            document_id=getattr(document, "pk", None),
            document_title=getattr(document, "title", ""),
            document_version=getattr(document, "version", None),
        )

    def entity(self, name: str) -> Entity:
        """The entity ``name``; raises SemanticModelError naming the missing entity."""
        try:
            return self.entities[name]
        except KeyError:
            raise SemanticModelError(f"the semantic model has no {name!r} entity") from None

    def table_names(self) -> set[str]:
        """Physical tables the agents may query (the SQL guard's allow-list)."""
        return {e.table for e in self.entities.values()}

    def stage_values(self, group: str) -> list[str]:
        """Stage values classified as ``group`` (open/won/lost); raises when not declared."""
        values = self.stages.get(group)
        if not values:
            raise SemanticModelError(f"the semantic model does not declare which stages are {group!r}")
        return values
