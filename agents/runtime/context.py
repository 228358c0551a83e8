"""The per-run tool belt: every tool call goes through here, so every call is a recorded step and
every number an answer shows can be traced to the SQL (or document) that produced it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterable

from django.conf import settings

from agents.models import Run, RunStep, StepKind
from agents.runtime.grounding import GroundingSources
from agents.semantic.compiler import compile_query, dimension_values_query
from agents.semantic.query import Filter, OrderBy, SemanticQuery, SemanticQueryError
from integrations.warehouse.base import WarehouseError
from integrations.warehouse.selectors import warehouse_dialect_for_tenant, warehouse_for_tenant, warehouse_outcome_record
from integrations.web_search.client import WebSearchUnavailable, web_search
from knowledge.frontmatter import split_front_matter
from knowledge.models import KnowledgeDocument
from knowledge.selectors import chunk_search, rule_set_document
from knowledge.semantic_model import SemanticModelInvalid, SemanticModelSpec, parse_semantic_model
from knowledge.validation import RuleSetInvalid, document_rules
from revops.lib.markdown import headings as markdown_headings
from revops.lib.redact import redact, redact_text

PREVIEW_ROWS = 20
MAX_TEXT = 2000


class ToolError(Exception):
    """A tool failed (refused SQL, unreachable connector, missing configuration). The message is
    safe to show to the user and is recorded in the run step."""


class BudgetExceeded(ToolError):
    """The run's wall-clock budget (``RUN_BUDGET_SECONDS``) ran out."""


def jsonable(value: Any) -> Any:
    """Convert Decimal/date values (from psycopg rows) to JSON types."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


@dataclass
class QueryResult:
    """Rows of one SQL tool call as dicts (Decimal kept), with the citation index they came from."""

    columns: list[str]
    rows: list[dict]
    sql: str
    citation: int
    truncated: bool = False


@dataclass
class RunContext:
    """Tool belt for one run. ``citations`` accumulates SQL and KB citations (1-based ``ref``)."""

    run: Run
    started: float = field(default_factory=time.monotonic)
    budget_seconds: float = field(default_factory=lambda: float(settings.RUN_BUDGET_SECONDS))
    citations: list[dict] = field(default_factory=list)
    _position: int = 0
    _semantic: SemanticModelSpec | None = None
    semantic_document: dict = field(default_factory=dict)
    _warehouse: Any = None
    sources: GroundingSources = field(default_factory=GroundingSources)
    rule_refs: dict = field(default_factory=dict)  # rule_set -> citation ref of its KB document
    computations: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        # A retried run keeps the earlier attempt's steps as history; number after them.
        from django.db.models import Max

        self._position = RunStep.objects.for_tenant(self.run.tenant_id).filter(run=self.run).aggregate(m=Max("position"))["m"] or 0

    def remaining_seconds(self) -> float:
        """Seconds left in the run's wall-clock budget (>= 0)."""
        return max(0.0, self.budget_seconds - (time.monotonic() - self.started))

    @property
    def as_of(self) -> dt.date:
        """The run's as-of date: "today" for relative periods and ages (days)."""
        return self.run.as_of

    # -- recording ---------------------------------------------------------------------------
    def record(
        self,
        *,
        agent: str,
        kind: str,
        name: str = "",
        input: dict | None = None,
        output_summary: str = "",
        output: dict | None = None,
        duration_ms: int = 0,
        error: str = "",
    ) -> RunStep:
        """Append a redacted step to the run."""
        self._position += 1
        return RunStep.objects.create(
            tenant=self.run.tenant,
            run=self.run,
            position=self._position,
            agent=agent,
            kind=kind,
            name=name,
            input=redact(jsonable(input or {})),
            output_summary=redact_text(output_summary)[:MAX_TEXT],
            output=redact(jsonable(output or {})),
            duration_ms=max(0, int(duration_ms)),
            error=redact_text(error)[:MAX_TEXT],
        )

    def computed(self, label: str, value: Any, formula: str = "") -> Any:
        """Declare a figure a playbook derived from tool results (e.g. a weighted pipeline), so the
        grounding check can trace it; listed in the run's ``compute`` step. Returns ``value``."""
        self.sources.add(value)
        self.computations.append({"label": label, "value": jsonable(value), "formula": formula})
        return value

    def flush_computations(self, *, agent: str) -> None:
        """Record the declared computations as one step (called once per specialist)."""
        if self.computations:
            self.record(agent=agent, kind=StepKind.TOOL_CALL, name="compute", output_summary=f"{len(self.computations)} derived figure(s)", output={"computations": self.computations})
            self.computations = []

    def check_budget(self) -> None:
        """Raise BudgetExceeded when the run's wall-clock budget is spent."""
        if time.monotonic() - self.started > self.budget_seconds:
            raise BudgetExceeded(f"the run's time budget of {self.budget_seconds:.0f} s ran out")

    # -- knowledge ---------------------------------------------------------------------------
    def rules(self, rule_set: str, *, agent: str, sections: tuple[str, ...] = ()) -> dict:
        """Front-matter parameters of the published KB document declaring ``rule_set: <name>``.

        Cites the document, and each of ``sections`` (markdown headings of the rules applied)
        by document and heading path (``"Deal health score > Bands"``) when the heading exists.
        Raises ToolError when no such document exists (the editors must publish it; the code
        has no hidden defaults for business rules).
        """
        started = time.monotonic()
        params, doc = rule_set_document(rule_set=rule_set)  # newest published declaring it
        if doc is not None:
            markdown = split_front_matter(doc.body)[1]
            cited = [self.cite_document(doc)]
            self.rule_refs[rule_set] = cited[0]
            for heading in _heading_paths(markdown, sections):
                cited.append(self.cite_document(doc, heading))
            self.sources.add(params)
            self.sources.add(doc.body)
            self.record(
                agent=agent,
                kind=StepKind.TOOL_CALL,
                name="kb_rules",
                input={"rule_set": rule_set, "sections": list(sections)},
                output_summary=f"{doc.title} (v{doc.version})",
                output={"document_id": doc.pk, "version": doc.version, "citations": cited},
                duration_ms=(time.monotonic() - started) * 1000,
            )
            if rule_set == "semantic_model":
                return params  # semantic_model() parses it into its own spec
            try:  # typed (knowledge.validation.RULE_SETS), parsed once per document version
                return document_rules(doc, rule_set, params)
            except RuleSetInvalid as exc:
                raise ToolError(f"the '{rule_set}' rules document is invalid: {exc}") from exc
        message = f"the knowledge base has no published document with 'rule_set: {rule_set}'"
        self.record(agent=agent, kind=StepKind.TOOL_CALL, name="kb_rules", input={"rule_set": rule_set}, error=message)
        raise ToolError(message)

    def cite_document(self, doc, heading_path: str = "") -> int:
        """Add a KB citation once per (document, heading); returns its 1-based ref."""
        key = (doc.pk, heading_path)
        for c in self.citations:
            if c.get("type") == "kb" and (c["document_id"], c.get("heading_path", "")) == key:
                return c["ref"]
        ref = len(self.citations) + 1
        self.citations.append(
            {"ref": ref, "type": "kb", "document_id": doc.pk, "title": doc.title, "version": doc.version, "heading_path": heading_path}
        )
        return ref

    def kb_search(self, query: str, *, agent: str, k: int = 3, kinds: list[str] | None = None) -> list:
        """Search the tenant's KB (hybrid/cosine, tenant-filtered); cites each hit's document and heading."""
        started = time.monotonic()
        hits = chunk_search(tenant=self.run.tenant, query=query, k=k, kinds=kinds)
        self.record(
            agent=agent,
            kind=StepKind.TOOL_CALL,
            name="kb_search",
            input={"query": query, "k": k, "kinds": kinds},
            output_summary=f"{len(hits)} chunk(s)",
            output={"hits": [{"document": h.document_title, "heading": h.heading_path, "score": round(h.score, 3)} for h in hits]},
            duration_ms=(time.monotonic() - started) * 1000,
        )
        self.sources.add([h.text for h in hits])
        docs = {d.pk: d for d in KnowledgeDocument.objects.filter(pk__in=[h.document_id for h in hits])}
        for h in hits:
            if h.document_id in docs:
                self.cite_document(docs[h.document_id], h.heading_path)
        return hits

    def semantic_model(self, *, agent: str) -> SemanticModelSpec:
        """The tenant's semantic model v2 (cached per run), from its published ``semantic_model``
        document (cited). Raises ToolError when missing or invalid (the message names the key)."""
        if self._semantic is None:
            params = self.rules("semantic_model", agent=agent)
            doc_ref = next(c for c in reversed(self.citations) if c["type"] == "kb" and not c.get("heading_path"))
            try:
                self._semantic = parse_semantic_model(params)
            except SemanticModelInvalid as exc:
                raise ToolError(f"the semantic model document is invalid: {exc}") from exc
            self.semantic_document = {"document_id": doc_ref["document_id"], "title": doc_ref["title"], "version": doc_ref["version"], "ref": doc_ref["ref"]}
        return self._semantic

    def semantic(self, query: SemanticQuery, *, agent: str, purpose: str) -> QueryResult:
        """Compile ``query`` through the tenant's semantic model and run it like :meth:`sql`
        (guarded, read-only, recorded, cited). Rows are keyed by metric/dimension names.

        Raises:
            SemanticQueryError: the model lacks a named metric/dimension, or the query would
                double count (nothing is run); the message is safe to show.
            ToolError: the warehouse refused or failed (recorded in the step).
        """
        model = self.semantic_model(agent=agent)
        compiled = compile_query(model, query, dialect=getattr(self._warehouse, "dialect", None) or warehouse_dialect_for_tenant() or "postgres")
        return self.sql(compiled.sql, compiled.params, agent=agent, purpose=purpose, semantic_query=query.as_dict())

    def rows_where(
        self,
        fields: Iterable[str],
        *,
        agent: str,
        purpose: str,
        filters: dict[str, Any] | None = None,
        order: Iterable[tuple[str, bool]] = (),
        limit: int | None = None,
    ) -> QueryResult:
        """Detail rows (no aggregation) of the named dimensions, ``filters`` {dimension: value or
        list of values}, ``order`` [(dimension, descending)]. A shorthand over :meth:`semantic`."""
        query = SemanticQuery(
            fields=tuple(fields),
            filters=tuple(Filter(d, tuple(v) if isinstance(v, (list, tuple)) else (v,)) for d, v in (filters or {}).items()),
            order=tuple(OrderBy(d, desc) for d, desc in order),
            limit=limit,
        )
        return self.semantic(query, agent=agent, purpose=purpose)

    def dimension_values(self, *, agent: str) -> dict[str, list[str]]:
        """Distinct canonical values of every ``link_values`` dimension, for the question parser.

        Cached per tenant and model document version (a changed model refreshes them) for
        ``SEMANTIC_VALUES_CACHE_SECONDS``; loaded in one recorded step, not cited (no figure in
        an answer comes from it). A dimension whose query fails is left out and named in the step.
        """
        from django.core.cache import cache

        model = self.semantic_model(agent=agent)
        key = f"semantic-values:{self.run.tenant_id}:{self.semantic_document.get('document_id')}:{self.semantic_document.get('version')}"
        values = cache.get(key)
        if values is not None:
            return values
        started = time.monotonic()
        values, failed = dimension_values_load(model, self._warehouse_for(model))
        self.record(
            agent=agent,
            kind=StepKind.TOOL_CALL,
            name="dimension_values",
            output_summary=f"{sum(len(v) for v in values.values())} values of {len(values)} dimension(s)",
            output={"counts": {k: len(v) for k, v in values.items()}, "failed": failed},
            duration_ms=(time.monotonic() - started) * 1000,
        )
        cache.set(key, values, timeout=settings.SEMANTIC_VALUES_CACHE_SECONDS)
        return values

    def _warehouse_for(self, model: SemanticModelSpec):
        if self._warehouse is None:
            self._warehouse = warehouse_for_tenant(allowed_tables=model.table_names())
        return self._warehouse

    # -- warehouse ---------------------------------------------------------------------------
    def sql(self, sql: str, params: dict | None = None, *, agent: str, purpose: str, semantic_query: dict | None = None) -> QueryResult:
        """Run a read-only SELECT on the tenant's warehouse through the SQL guard.

        Records a ``tool_call`` step (SQL, params, row count, preview of rows) and a citation, and
        the outcome on the warehouse connector's health
        (:func:`integrations.warehouse.selectors.warehouse_outcome_record`). Raises ToolError with the guard's or database's reason (also recorded in the step).
        """
        self.check_budget()
        sm = self.semantic_model(agent=agent)
        started = time.monotonic()
        step_input = {"purpose": purpose, "sql": sql, "params": params or {}}
        if semantic_query:
            step_input["semantic_query"] = semantic_query
        try:
            result = self._warehouse_for(sm).execute(sql, params or {})
        except WarehouseError as exc:
            warehouse_outcome_record(error=exc)  # connection failures and timeouts count; bad SQL does not
            self.record(
                agent=agent,
                kind=StepKind.TOOL_CALL,
                name="warehouse_sql",
                input=step_input,
                error=str(exc),
                duration_ms=(time.monotonic() - started) * 1000,
            )
            raise ToolError(str(exc)) from exc
        warehouse_outcome_record()
        rows = [dict(zip(result.columns, r)) for r in result.rows]
        self.sources.add(result.rows)
        ref = len(self.citations) + 1
        step = self.record(
            agent=agent,
            kind=StepKind.TOOL_CALL,
            name="warehouse_sql",
            input={**step_input, "sql": result.sql},
            output_summary=f"{result.row_count} row(s){' (truncated)' if result.truncated else ''}",
            output={"columns": result.columns, "rows": [list(r) for r in result.rows[:PREVIEW_ROWS]]},
            duration_ms=(time.monotonic() - started) * 1000,
        )
        self.citations.append(
            {"ref": ref, "type": "sql", "purpose": purpose, "sql": result.sql, "params": jsonable(params or {}), "row_count": result.row_count, "step": step.position}
        )
        return QueryResult(result.columns, rows, result.sql, ref, result.truncated)

    def call_notes(
        self,
        account: str,
        *,
        agent: str,
        contact: str | None = None,
        limit: int | None = None,
        text_alias: str = "text",
        purpose: str = "",
    ) -> QueryResult:
        """Call notes of ``account`` (optionally one ``contact``), newest first, at most ``limit``.

        Rows: contact, activity_type, status, date (date) and the note text under ``text_alias``
        (the model-facing tool uses ``untrusted_text``), read through the semantic model's
        ``note_*`` dimensions. Raises ToolError when the model declares no call notes (an
        optional entity: callers say what is missing) or like ``sql``.
        """
        if text_alias not in ("text", "untrusted_text"):
            raise ValueError(f"unsupported text alias {text_alias!r}")
        model = self.semantic_model(agent=agent)
        names = {"note_contact": "contact", "note_type": "activity_type", "note_status": "status", "note_date": "date", "note_text": text_alias}
        missing = [n for n in model.call_notes_missing() if n in names]
        if missing:
            raise ToolError(f"the semantic model declares no call notes ({', '.join(missing)} missing)")
        filters: dict[str, Any] = {"account": account}
        if contact:
            filters["note_contact"] = contact
        try:
            result = self.rows_where(names, agent=agent, purpose=purpose or f"call notes of {account}", filters=filters, order=[("note_date", True)], limit=limit)
        except SemanticQueryError as exc:
            raise ToolError(str(exc)) from exc
        rows = [{names[k]: v for k, v in r.items() if k in names} for r in result.rows]
        return dataclasses.replace(result, columns=[names.get(c, c) for c in result.columns], rows=rows)

    def web_search(self, query: str, *, agent: str, count: int = 5) -> tuple[list, int]:
        """Search the public web; returns (hits with title/url/snippet, citation ref).

        Records a ``web_search`` step and a ``web`` citation, and adds the snippets to the
        grounding sources. Raises ToolError (recorded) when web search is unavailable.
        """
        started = time.monotonic()
        try:
            hits = web_search(query=query, count=count)
        except WebSearchUnavailable as exc:
            self.record(agent=agent, kind=StepKind.TOOL_CALL, name="web_search", input={"query": query}, error=str(exc), duration_ms=(time.monotonic() - started) * 1000)
            raise ToolError(str(exc)) from exc
        ref = len(self.citations) + 1
        step = self.record(
            agent=agent,
            kind=StepKind.TOOL_CALL,
            name="web_search",
            input={"query": query},
            output_summary=f"{len(hits)} result(s)",
            output={"results": [h.__dict__ for h in hits]},
            duration_ms=(time.monotonic() - started) * 1000,
        )
        pages = [{"url": h.url, "title": h.title, "published": h.published} for h in hits]  # published: YYYY-MM-DD or ""
        self.citations.append({"ref": ref, "type": "web", "query": query, "urls": [h.url for h in hits], "pages": pages, "step": step.position})
        self.sources.add([h.snippet for h in hits])
        return hits, ref


def dimension_values_load(model: SemanticModelSpec, warehouse) -> tuple[dict[str, list[str]], dict[str, str]]:
    """``(values, failed)``: the distinct canonical values (as text) of every ``link_values`` text
    dimension of ``model``, read through ``warehouse`` (a guarded connector), and the error of each
    dimension whose query failed (left out, so one bad dimension does not block the others)."""
    values: dict[str, list[str]] = {}
    failed: dict[str, str] = {}
    for name, dim in model.dimensions.items():
        if not dim.link_values or dim.type != "string":
            continue
        try:
            compiled = dimension_values_query(model, name, dialect=getattr(warehouse, "dialect", "postgres"))
            result = warehouse.execute(compiled.sql, compiled.params)
        except (WarehouseError, SemanticQueryError) as exc:
            failed[name] = str(exc)
            continue
        values[name] = [str(r[0]) for r in result.rows if r[0] is not None]
    return values, failed


def _heading_paths(markdown: str, sections: tuple[str, ...]) -> list[str]:
    """Heading paths (``"H1 > H2"``, as the KB chunks name them) of the wanted section headings
    that exist in ``markdown`` (parsed by :func:`revops.lib.markdown.headings`)."""
    return [h.path for h in markdown_headings(markdown) if h.title in sections]


def fmt_usd(value: Any) -> str:
    """``$1,234,567`` (USD, rounded to the dollar); ``n/a`` for None."""
    if value is None:
        return "n/a"
    return f"${float(value):,.0f}"


def fmt_pct(value: Any, digits: int = 1) -> str:
    """``42.5%`` for a value already in percent; ``n/a`` for None."""
    if value is None:
        return "n/a"
    return f"{float(value):.{digits}f}%"


def md_table(headers: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    """A GitHub-style markdown table; ``|`` in cells is escaped."""
    headers = list(headers)
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    for row in rows:
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |")
    return "\n".join(lines)
