"""The evaluation harness behind ``manage.py eval``: runs a file of questions through the whole
pipeline and scores routing, answers, declines, the recorded interpretation and grounding.

File format (YAML)::

    {as_of: YYYY-MM-DD,
     tolerance: {relative: 0.001, absolute: 0.1},     # optional; default: 1% relative
     questions: [{question, route: [agents], numbers: [expected], names: [expected],
                  interpreted_as: {metrics, group_by, filters, period, ...},   # optional
                  decline: [words],                                           # optional
                  thread: id}]}                                               # optional

Scores per question:

- routing: the run's route equals the expected route (order-insensitive);
- answer (questions without ``decline``): the run succeeded, was not declined
  (``run.interpretation["status"] != "declined"``), every expected number appears in the answer
  within the tolerance (``|found - expected| <= max(relative x |expected|, absolute)``; default 1%
  relative), and every expected name appears (case-insensitive substring);
- decline (questions with ``decline``): the run succeeded, its interpretation status is
  ``declined`` and every ``decline`` word appears in the answer (case-insensitive); an answered
  out-of-scope question is wrong, and so is a declined answerable one (issue 8: declining is
  right, answering another question is the worst defect);
- interpreted-as (questions with ``interpreted_as``):
  ``SemanticQuery.from_dict(run.interpretation["semantic_query"]).signature()`` equals the
  expected signature on the keys the expected mapping gives (``agents/semantic/query.py``);
- grounding: the run's grounding check found no unmatched figure.

Questions sharing a ``thread`` id are asked in file order in one conversation (``run_create``'s
``thread_key``, unique per evaluation run), so follow-ups see earlier turns.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import statistics
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.db import transaction

from agents.models import Channel, Run
from agents.runtime.grounding import numbers_in
from agents.semantic.query import SemanticQuery, SemanticQueryError
from agents.services import run_claim, run_create, run_execute
from tenants.context import tenant_context
from tenants.models import Tenant

DEFAULT_TOLERANCE = {"relative": 0.01, "absolute": 0.0}
SIGNATURE_KEYS = ("metrics", "group_by", "filters", "period", "compare", "grain", "limit", "desc")


class EvalFileError(ValueError):
    """The evaluation file is missing, not YAML, lacks ``questions``, or has a malformed item."""


@dataclass
class EvalRow:
    """One evaluated question.

    ``kind`` is ``"answer"`` or ``"decline"`` (the file gives ``decline`` words). ``answer_ok``:
    the answer check for answerable questions, the decline check for declines (so the legacy
    columns stay meaningful); ``decline_ok`` is None for answerable questions;
    ``interpreted_ok`` None when the file gives no ``interpreted_as``. ``missing``: expected
    numbers, names or decline words absent from the answer (and "declined" when an answerable
    question was declined, "answered" when an out-of-scope one was answered).
    ``interpretation_diff``: one line per signature key that differs. ``interpretation_status``:
    the run's ``interpretation["status"]`` ("" when the run recorded none). Tokens are input +
    output tokens; latency in milliseconds.
    """

    question: str
    route_ok: bool
    answer_ok: bool
    grounded: bool
    missing: list[str]
    route: list[str]
    tokens: int
    latency_ms: int
    status: str
    kind: str = "answer"
    decline_ok: bool | None = None
    interpreted_ok: bool | None = None
    interpretation_diff: list[str] = field(default_factory=list)
    interpretation_status: str = ""
    thread: str | None = None


@dataclass
class EvalSummary:
    """Totals over the rows of one evaluation. Accuracies are fractions in 0..1, None when no
    question of that kind was asked: answer accuracy over answerable questions only, decline
    accuracy over out-of-scope ones, interpreted-as accuracy over questions that give
    ``interpreted_as``; strict accuracy over answerable questions counts those whose answer is
    right *and* whose interpretation (when expected) is right, so that a long list which happens
    to contain the expected figures (all agents for "top 3 in the East office") does not count.
    Latencies in milliseconds (p95 by nearest rank); tokens summed."""

    questions: int
    answerable: int
    answers_ok: int
    strict_ok: int
    declines: int
    declines_ok: int
    interpreted: int
    interpreted_ok: int
    routed_ok: int
    grounded: int
    tokens: int
    latency_p50_ms: float
    latency_p95_ms: int
    latency_total_ms: int

    @staticmethod
    def _ratio(ok: int, n: int) -> float | None:
        return ok / n if n else None

    @property
    def answer_accuracy(self) -> float | None:
        return self._ratio(self.answers_ok, self.answerable)

    @property
    def strict_accuracy(self) -> float | None:
        return self._ratio(self.strict_ok, self.answerable)

    @property
    def decline_accuracy(self) -> float | None:
        return self._ratio(self.declines_ok, self.declines)

    @property
    def interpreted_accuracy(self) -> float | None:
        return self._ratio(self.interpreted_ok, self.interpreted)

    @property
    def routing_accuracy(self) -> float | None:
        return self._ratio(self.routed_ok, self.questions)

    @property
    def grounding_rate(self) -> float | None:
        return self._ratio(self.grounded, self.questions)


def eval_load(path: Path) -> dict:
    """Parse and check an evaluation file (format in the module docstring). Raises EvalFileError
    naming the first malformed item."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise EvalFileError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("questions"), list) or not data["questions"]:
        raise EvalFileError(f"{path} must hold a mapping with a non-empty 'questions' list")
    tolerance = data.get("tolerance")
    if tolerance is not None and (
        not isinstance(tolerance, dict)
        or set(tolerance) - {"relative", "absolute"}
        or not all(isinstance(v, (int, float)) and v >= 0 for v in tolerance.values())
    ):
        raise EvalFileError("'tolerance' must be a mapping of non-negative 'relative' and/or 'absolute' numbers")
    for i, q in enumerate(data["questions"], 1):
        if not isinstance(q, dict) or not q.get("question"):
            raise EvalFileError(f"question {i} has no 'question' text")
        words = q.get("decline")
        if words is not None and (not isinstance(words, list) or not words or not all(isinstance(w, str) and w for w in words)):
            raise EvalFileError(f"question {i}: 'decline' must be a non-empty list of words")
        if words and q.get("numbers"):
            raise EvalFileError(f"question {i}: a decline expects no numbers")
        expected = q.get("interpreted_as")
        if expected is not None and (not isinstance(expected, dict) or set(expected) - set(SIGNATURE_KEYS)):
            raise EvalFileError(f"question {i}: 'interpreted_as' must be a mapping with keys among {', '.join(SIGNATURE_KEYS)}")
        if q.get("thread") is not None and not isinstance(q["thread"], (str, int)):
            raise EvalFileError(f"question {i}: 'thread' must be an id (text)")
    return data


def score_answer(answer: str, *, numbers: list, names: list, tolerance: dict | None = None) -> list[str]:
    """What the answer misses: expected numbers with no number written within the tolerance,
    names absent (case-insensitive). ``tolerance``: ``{"relative": r, "absolute": a}``, a number
    matches when ``|found - expected| <= max(r x |expected|, a)``; default 1% relative (the demo
    set's rule). Numbers are read with the grounding check's parser (K/M/B suffixes applied,
    dates skipped)."""
    tol = {**DEFAULT_TOLERANCE, **(tolerance or {})}
    found = numbers_in(answer)
    missing = []
    for n in numbers:
        expected = float(n)
        allowed = max(tol["relative"] * abs(expected), tol["absolute"]) + 1e-9
        if not any(abs(f - expected) <= allowed for f in found):
            missing.append(str(n))
    low = answer.lower()
    missing += [str(n) for n in names if str(n).lower() not in low]
    return missing


def score_decline(answer: str, *, interpretation: dict | None, words: list) -> list[str]:
    """What a decline lacks: ``"answered"`` when the run's interpretation status is not
    ``declined``, then every expected word absent from the answer (case-insensitive). Empty list
    = a correct decline."""
    problems = [] if (interpretation or {}).get("status") == "declined" else ["answered"]
    low = (answer or "").lower()
    return problems + [w for w in words if w.lower() not in low]


def _plain(value):
    """JSON-normal form (tuples -> lists) so a signature compares equal to YAML data."""
    return json.loads(json.dumps(value))


def score_interpretation(interpretation: dict | None, expected: dict) -> list[str]:
    """Differences between the run's recorded semantic query and the expected signature, one
    line per differing key (``"group_by: expected ['office'], got []"``), comparing only the keys
    ``expected`` gives. Empty list = the question was read as expected. A missing or malformed
    semantic query is one difference."""
    data = (interpretation or {}).get("semantic_query")
    if not data:
        status = (interpretation or {}).get("status") or "none"
        return [f"no semantic query recorded (interpretation status {status})"]
    try:
        got = _plain(SemanticQuery.from_dict(data).signature())
    except SemanticQueryError as exc:
        return [str(exc)]
    want = _plain(expected)
    return [f"{key}: expected {want[key]}, got {got.get(key)}" for key in want if got.get(key) != want[key]]


def thread_keys(questions: list[dict], *, nonce: str) -> list[str]:
    """The conversation key of each question: ``""`` without a ``thread``, else
    ``eval-<nonce>-<thread>`` (same thread id = same conversation; the nonce keeps two evaluation
    runs from sharing a conversation)."""
    return [f"eval-{nonce}-{q['thread']}" if q.get("thread") is not None else "" for q in questions]


def score_run(item: dict, run: Run, *, tolerance: dict | None = None, latency_ms: int = 0) -> EvalRow:
    """Score one finished run against its file item (rules in the module docstring)."""
    answer = run.answer_markdown or ""
    interpretation = run.interpretation or {}
    declined = interpretation.get("status") == "declined"
    succeeded = run.status == "succeeded"
    words = item.get("decline")
    decline_ok = None
    if words:
        missing = score_decline(answer, interpretation=interpretation, words=words)
        decline_ok = answer_ok = succeeded and not missing
    else:
        missing = score_answer(answer, numbers=item.get("numbers") or [], names=item.get("names") or [], tolerance=tolerance)
        if declined:
            unmapped = ", ".join(str(u) for u in interpretation.get("unmapped") or [])
            missing.insert(0, f"declined ({unmapped})" if unmapped else "declined")
        answer_ok = succeeded and not missing
    expected = item.get("interpreted_as")
    diff = score_interpretation(interpretation, expected) if expected is not None else []
    expected_route = item.get("route")
    return EvalRow(
        question=item["question"],
        route_ok=expected_route is None or sorted(run.route) == sorted(expected_route),
        answer_ok=answer_ok,
        grounded=not (run.grounding or {}).get("unmatched"),
        missing=missing,
        route=run.route,
        tokens=int(run.usage.get("input_tokens", 0)) + int(run.usage.get("output_tokens", 0)),
        latency_ms=latency_ms,
        status=run.status,
        kind="decline" if words else "answer",
        decline_ok=decline_ok,
        interpreted_ok=None if expected is None else not diff,
        interpretation_diff=diff,
        interpretation_status=str(interpretation.get("status") or ""),
        thread=str(item["thread"]) if item.get("thread") is not None else None,
    )


def eval_run(*, tenant: Tenant, data: dict, provider=None) -> list[EvalRow]:
    """Ask every question in file order (in-process, like ``ask``; thread turns in one
    conversation) and score it. ``data`` as returned by :func:`eval_load`."""
    as_of = dt.date.fromisoformat(str(data["as_of"])) if data.get("as_of") else None
    tolerance = data.get("tolerance")
    keys = thread_keys(data["questions"], nonce=uuid.uuid4().hex[:12])
    rows = []
    for item, key in zip(data["questions"], keys):
        started = time.monotonic()
        with transaction.atomic():
            run = run_create(
                tenant=tenant, channel=Channel.CLI, query=item["question"], as_of=as_of, thread_key=key, source_process="eval", enqueue=False
            )
            run_claim(run_id=run.pk)
        with tenant_context(tenant):
            run = run_execute(run=Run.objects.get(pk=run.pk), provider=provider)
        rows.append(score_run(item, run, tolerance=tolerance, latency_ms=int((time.monotonic() - started) * 1000)))
    return rows


def eval_summary(rows: list[EvalRow]) -> EvalSummary:
    """Totals of :func:`eval_run`'s rows (see :class:`EvalSummary`). Raises ValueError on no rows."""
    if not rows:
        raise ValueError("no evaluated questions")
    lat = sorted(r.latency_ms for r in rows)
    answerable = [r for r in rows if r.kind == "answer"]
    declines = [r for r in rows if r.kind == "decline"]
    interpreted = [r for r in rows if r.interpreted_ok is not None]
    return EvalSummary(
        questions=len(rows),
        answerable=len(answerable),
        answers_ok=sum(r.answer_ok for r in answerable),
        strict_ok=sum(r.answer_ok and r.interpreted_ok is not False for r in answerable),
        declines=len(declines),
        declines_ok=sum(bool(r.decline_ok) for r in declines),
        interpreted=len(interpreted),
        interpreted_ok=sum(bool(r.interpreted_ok) for r in interpreted),
        routed_ok=sum(r.route_ok for r in rows),
        grounded=sum(r.grounded for r in rows),
        tokens=sum(r.tokens for r in rows),
        latency_p50_ms=float(statistics.median(lat)),
        latency_p95_ms=lat[max(0, math.ceil(0.95 * len(lat)) - 1)],
        latency_total_ms=sum(lat),
    )
