"""The evaluation harness behind ``manage.py eval``: runs a file of questions through the whole
pipeline and scores routing, answers and grounding.

File format (YAML): ``{as_of: YYYY-MM-DD, questions: [{question, route: [agents], numbers:
[expected], names: [expected]}]}``. Scores per question:

- routing: the run's route equals the expected route (order-insensitive);
- answer: every expected number appears in the answer within 1% (relative), and every
  expected name appears (case-insensitive);
- grounding: the run's grounding check found no unmatched figure.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from django.db import transaction

from agents.models import Channel, Run
from agents.runtime.grounding import numbers_in
from agents.services import run_claim, run_create, run_execute
from tenants.context import tenant_context
from tenants.models import Tenant


class EvalFileError(ValueError):
    """The evaluation file is missing, not YAML, or lacks ``questions``."""


@dataclass
class EvalRow:
    """One evaluated question: route and answer checks, grounding, what was missing, tokens and
    latency (milliseconds), final run status."""

    question: str
    route_ok: bool
    answer_ok: bool
    grounded: bool
    missing: list[str]
    route: list[str]
    tokens: int
    latency_ms: int
    status: str


def eval_load(path: Path) -> dict:
    """Parse and check an evaluation file. Raises EvalFileError."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise EvalFileError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("questions"), list) or not data["questions"]:
        raise EvalFileError(f"{path} must hold a mapping with a non-empty 'questions' list")
    for i, q in enumerate(data["questions"], 1):
        if not isinstance(q, dict) or not q.get("question"):
            raise EvalFileError(f"question {i} has no 'question' text")
    return data


def score_answer(answer: str, *, numbers: list, names: list) -> list[str]:
    """What the answer misses: expected numbers not within 1% of any number written, names absent."""
    found = numbers_in(answer)
    missing = [str(n) for n in numbers if not any(abs(f - float(n)) <= 0.01 * abs(float(n)) + 1e-9 for f in found)]
    low = answer.lower()
    missing += [str(n) for n in names if str(n).lower() not in low]
    return missing


def eval_run(*, tenant: Tenant, data: dict, provider=None) -> list[EvalRow]:
    """Ask every question (in-process, like ``ask``) and score it."""
    as_of = dt.date.fromisoformat(str(data["as_of"])) if data.get("as_of") else None
    rows = []
    for item in data["questions"]:
        started = time.monotonic()
        with transaction.atomic():
            run = run_create(tenant=tenant, channel=Channel.CLI, query=item["question"], as_of=as_of, source_process="eval", enqueue=False)
            run_claim(run_id=run.pk)
        with tenant_context(tenant):
            run = run_execute(run=Run.objects.get(pk=run.pk), provider=provider)
        missing = score_answer(run.answer_markdown, numbers=item.get("numbers") or [], names=item.get("names") or [])
        expected_route = item.get("route")
        rows.append(
            EvalRow(
                question=item["question"],
                route_ok=expected_route is None or sorted(run.route) == sorted(expected_route),
                answer_ok=not missing and run.status == "succeeded",
                grounded=not (run.grounding or {}).get("unmatched"),
                missing=missing,
                route=run.route,
                tokens=int(run.usage.get("input_tokens", 0)) + int(run.usage.get("output_tokens", 0)),
                latency_ms=int((time.monotonic() - started) * 1000),
                status=run.status,
            )
        )
    return rows
