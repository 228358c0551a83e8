"""Test helpers shared by the agents tests: ask a question through the run pipeline, and edit a
test tenant's published semantic model document.

Plain functions, not fixtures: tests import them (``from agents.tests.runs import ask``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import yaml

from agents.models import Run
from agents.services import run_create
from agents.tasks import execute_run
from knowledge.frontmatter import split_front_matter
from knowledge.models import KnowledgeDocument
from knowledge.services import document_save
from tenants.context import tenant_context
from tenants.models import Tenant


def ask_timed(tenant: Tenant, query: str, **run_create_kwargs: Any) -> tuple[Run, float]:
    """Run ``query`` on ``tenant`` synchronously and return ``(run, seconds)``.

    The run is created with ``agents.services.run_create`` (``channel="cli"`` unless given,
    ``enqueue=False``; other keyword arguments such as ``thread_key`` or ``channel`` are passed on),
    executed in-process with ``agents.tasks.execute_run``, and reloaded from the database inside the
    tenant's context so its answer, steps, grounding and charts are current. ``seconds`` is the
    wall-clock time of ``execute_run`` alone (time.monotonic), not of the create and the reload.
    """
    run_create_kwargs.setdefault("channel", "cli")
    run = run_create(tenant=tenant, query=query, enqueue=False, **run_create_kwargs)
    started = time.monotonic()
    execute_run(run.pk)
    elapsed = time.monotonic() - started
    with tenant_context(tenant):
        return Run.objects.get(pk=run.pk), elapsed


def ask(tenant: Tenant, query: str, **run_create_kwargs: Any) -> Run:
    """Run ``query`` on ``tenant`` synchronously and return the reloaded run (see ``ask_timed``)."""
    return ask_timed(tenant, query, **run_create_kwargs)[0]


def semantic_model_edit(tenant: Tenant, edit: Callable[[dict], None]) -> None:
    """Publish ``tenant``'s semantic model document with ``edit(params)`` applied to its front matter.

    The document is the tenant's ``kind="semantic_model"`` knowledge document whose body declares
    ``rule_set: semantic_model``; ``edit`` mutates the parsed YAML front matter in place; the body
    is written back (YAML front matter + the unchanged Markdown) with ``document_save`` as a
    published new version. The shared demo warehouse is left alone: only this tenant's document
    changes. Raises StopIteration when the tenant has no such document.
    """
    with tenant_context(tenant):
        doc = next(d for d in KnowledgeDocument.objects.filter(kind="semantic_model") if "rule_set: semantic_model" in d.body)
        params, markdown = split_front_matter(doc.body)
        edit(params)
        body = "---\n" + yaml.safe_dump(params, sort_keys=False) + "---\n" + markdown
        document_save(tenant=tenant, kind="semantic_model", title=doc.title, body=body, document=doc, status="published")


def drop_call_notes(params: dict) -> None:
    """A ``semantic_model_edit`` edit: remove the call-notes entity and everything built on it
    (its relationships, the ``note_date`` time dimension, the ``note_count`` measure, the
    ``call_notes`` metric and the dimensions of that entity)."""
    params["entities"].pop("call_notes")
    params["relationships"] = [r for r in params["relationships"] if "call_notes" not in (r["from"], r["to"])]
    params["time_dimensions"].pop("note_date")
    params["measures"].pop("note_count")
    params["metrics"].pop("call_notes")
    for name in [d for d, spec in params["dimensions"].items() if spec["entity"] == "call_notes"]:
        params["dimensions"].pop(name)


def drop_measures_where(params: dict, predicate: Callable[[dict], bool]) -> None:
    """A ``semantic_model_edit`` helper: remove the measures for which ``predicate(spec)`` is
    true and every metric built on one of them (as measure, numerator or denominator)."""
    dropped = {name for name, m in params["measures"].items() if predicate(m)}
    for name in dropped:
        params["measures"].pop(name)
    for name, m in list(params["metrics"].items()):
        if {m.get("measure"), m.get("numerator"), m.get("denominator")} & dropped:
            params["metrics"].pop(name)


def null_amounts_of(opportunity_ids: list[str]) -> Callable[[dict], None]:
    """A ``semantic_model_edit`` edit: the ``amount`` dimension reads NULL for ``opportunity_ids``
    (deals whose amount the CRM lacks) and ``close_value`` for every other opportunity."""
    ids = ", ".join(f"'{i}'" for i in opportunity_ids)

    def edit(params: dict) -> None:
        amount = params["dimensions"]["amount"]
        amount.pop("column")
        amount["sql"] = f"CASE WHEN opportunity_id IN ({ids}) THEN NULL ELSE close_value END"

    return edit
