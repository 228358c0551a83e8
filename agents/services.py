"""Writes for runs: create (enqueue on commit), claim, execute, finish, reap stale runs.

Claims, leases, the reaper and the resending of lost broker messages use the one lease helper
(:mod:`revops.lib.lease`) with :data:`RUN_LEASE`.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.conf import Conf

from agents.callbacks import callback_deliver
from agents.models import Conversation, Run, RunStatus
from agents.runtime.supervisor import supervise
from agents.scheduled.services import schedule_deliver
from agents.slack_replies import slack_post_ack, slack_post_answer, slack_post_progress
from agents.timeperiods import resolve_as_of
from revops.lib.lease import Lease
from revops.lib.queue import task_enqueue
from revops.lib.redact import redact_text
from tenants.context import tenant_context
from tenants.models import Tenant

logger = logging.getLogger(__name__)

MAX_QUERY_CHARS = 4000


def conversation_get_or_create(*, tenant: Tenant, channel: str, external_key: str) -> Conversation:
    """The conversation for a Slack thread or API ``thread_id`` (created on first use)."""
    conversation, _ = Conversation.objects.for_tenant(tenant).get_or_create(
        tenant=tenant, channel=channel, external_key=external_key[:255]
    )
    return conversation


def run_create(
    *,
    tenant: Tenant,
    channel: str,
    query: str,
    as_of: dt.date | None = None,
    thread_key: str = "",
    source_system: str = "",
    source_process: str = "",
    callback_url: str = "",
    reply_to: dict | None = None,
    created_by=None,
    enqueue: bool = True,
) -> Run:
    """Record a queued run and enqueue ``agents.tasks.execute_run`` once the transaction commits.

    ``as_of`` defaults to the tenant's pinned ``settings["as_of_date"]`` or today in the tenant's
    time zone (DESIGN.md §4 Time). ``thread_key`` links the run to a conversation so follow-ups
    see earlier turns. ``enqueue=False`` leaves the run for the caller to execute in-process (the
    ``ask`` command). Raises ``ValueError`` for an empty or oversized (> 4,000 chars) query.
    """
    query = (query or "").strip()
    if not query:
        raise ValueError("query must not be empty")
    if len(query) > MAX_QUERY_CHARS:
        raise ValueError(f"query is longer than {MAX_QUERY_CHARS} characters")
    conversation = (
        conversation_get_or_create(tenant=tenant, channel=channel, external_key=thread_key) if thread_key else None
    )
    with tenant_context(tenant):
        run = Run.objects.create(
            tenant=tenant,
            channel=channel,
            conversation=conversation,
            query=query,
            as_of=as_of or resolve_as_of(tenant=tenant),
            source_system=source_system,
            source_process=source_process,
            callback_url=callback_url,
            reply_to=reply_to or {},
            created_by=created_by,
            enqueued_at=timezone.now() if enqueue else None,  # the hand-over below; no UPDATE after it
        )
    if enqueue:
        _run_hand_over(run.pk)
    return run


def _run_hand_over(run_id: int) -> None:
    """Send a new run to ``agents.tasks.execute_run`` (its ``enqueued_at`` was set on insert).

    With the ORM broker inside a transaction the queue row is written in that transaction: it
    commits with the run or not at all, with no commit of its own (and django-q2 skips its
    ``close_old_connections``, which would cost a health-check round trip). With Redis, or
    django-q2's ``sync`` mode, or outside a transaction, it is sent once the transaction commits.
    Should the send fail after commit, the reaper sends the run again (``run_reap_stale``).
    """
    if settings.Q_BROKER == "orm" and not Conf.SYNC and transaction.get_connection().in_atomic_block:
        task_enqueue("agents.tasks.execute_run", run_id, task_name=f"run-{run_id}")
    else:
        transaction.on_commit(lambda: task_enqueue("agents.tasks.execute_run", run_id, task_name=f"run-{run_id}"))


QUEUED_RESEND_AFTER = timedelta(minutes=10)

RUN_LEASE = Lease(
    model=Run,
    # A run's claim lasts the worker timeout plus 30 s (DESIGN.md §5: worker timeout < retry).
    duration=lambda: timedelta(seconds=settings.WORKER_TIMEOUT_SECONDS + 30),
    resend_after=QUEUED_RESEND_AFTER,
    max_attempts=lambda: settings.RUN_MAX_ATTEMPTS,
    queued=RunStatus.QUEUED,
    running=RunStatus.RUNNING,
    queued_since_field="queued_at",
)
"""Runs: no token (the attempt number names a claim); the lease runs from ``started_at``."""


def run_enqueue(*, run_id: int) -> None:
    """Hand a run to the django-q2 broker and note when (the reaper re-sends lost messages)."""
    RUN_LEASE.mark_enqueued([run_id])
    task_enqueue("agents.tasks.execute_run", run_id, task_name=f"run-{run_id}")


def run_claim(*, run_id: int) -> Run | None:
    """Atomically move a run to ``running`` (conditional UPDATE), counting the attempt.

    Claims a queued run, or a running one whose worker is presumed dead (its lease, the worker
    timeout + 30 s from ``started_at``, ran out) while it has attempts left (``RUN_MAX_ATTEMPTS``).
    Returns the claimed run (tenant loaded), or None when another worker has it or it is
    finished, which makes the task idempotent and safe to deliver twice.
    """
    return RUN_LEASE.claim(run_id, reclaim_expired=True, select_related=("tenant",))


def run_execute(*, run: Run, provider=None) -> Run:
    """Answer a claimed run with the supervisor, store the answer, then deliver it (Slack, callback).

    Any exception inside the agents marks the run failed with a readable reason; nothing is left
    ``running``. ``provider`` overrides the tenant's LLM provider (tests, the eval command).
    Must be called inside ``tenant_context(run.tenant)``.
    """
    started = time.monotonic()  # the run's budget clock starts before anything slow (the Slack ack)
    try:
        _deliver_ack(run)
        outcome = supervise(run=run, provider=provider, started=started, progress=_progress_reporter(run))
    except Exception as exc:  # the run records the failure; the worker must not die on it
        logger.exception("run %s failed", run.pk)
        run.status = RunStatus.FAILED
        run.error = redact_text(f"{type(exc).__name__}: {exc}")[:2000]
        run.answer_markdown = run.answer_markdown or "Sorry, this question could not be answered: an internal error occurred."
        run.answer_plain = run.answer_plain or run.answer_markdown
    else:
        run.status = RunStatus.SUCCEEDED
        run.route = outcome.route
        run.route_reason = outcome.route_reason
        run.answer_markdown = outcome.answer_markdown
        run.answer_plain = outcome.answer_plain
        run.citations = outcome.citations
        run.entities = outcome.entities
        run.provider = outcome.provider
        run.usage = outcome.usage
        run.grounding = outcome.grounding
        run.interpretation = outcome.interpretation
        run.charts = outcome.charts
    run.finished_at = timezone.now()
    # Store the outcome only if the run is still ours: the reaper may have requeued or failed it
    # meanwhile (a worker that overran), and its decision must not be overwritten.
    fields = ["status", "route", "route_reason", "answer_markdown", "answer_plain", "citations", "entities", "interpretation",
              "provider", "usage", "grounding", "error", "finished_at", "charts"]
    stored = RUN_LEASE.release(run, **{f: getattr(run, f) for f in fields})
    if not stored:
        logger.warning("run %s was taken over while it ran; this attempt's outcome is dropped", run.pk)
        return run
    logger.info("run %s %s in %.0f ms", run.pk, run.status, (time.monotonic() - started) * 1000)
    _deliver_answer(run)
    return run


def _deliver_ack(run: Run) -> None:
    if run.reply_to.get("slack"):
        slack_post_ack(run=run)


def _progress_reporter(run: Run) -> Callable[[list[str], list[str]], None] | None:
    """``progress(planned, finished)`` for the supervisor: the Slack acknowledgement updated in place."""
    if not run.reply_to.get("slack"):
        return None

    def report(planned: list[str], finished: list[str]) -> None:
        slack_post_progress(run=run, planned=planned, done=finished)  # never raises

    return report


def _deliver_answer(run: Run) -> None:
    if run.reply_to.get("slack"):
        slack_post_answer(run=run)
    if run.callback_url:
        callback_deliver(run=run)
    if run.reply_to.get("schedule"):
        schedule_deliver(run=run)  # a tenant schedule's destination (agents.scheduled)


def _deliver_failed(run_id: int, tenant_id: int) -> None:
    run = Run.objects.for_tenant(tenant_id).select_related("tenant").get(pk=run_id)
    with tenant_context(run.tenant):
        _deliver_answer(run)


def run_reap_stale() -> dict[str, int]:
    """Requeue or fail runs whose worker died (DESIGN.md §5: never left running forever).

    A run still ``running`` after its lease (worker timeout + 30 s) is requeued while it has
    attempts left (``RUN_MAX_ATTEMPTS``), else marked failed with the reason (and still
    delivered). A run still ``queued`` 10 minutes after its last hand-over to the broker (or its
    creation, when it was never handed over: the enqueue failed after commit) is enqueued again;
    the claim makes a duplicate delivery harmless. All tenants. Returns counts.
    """
    requeued = failed = 0
    resent = [row.pk for row in RUN_LEASE.lost()]
    for pk in resent:
        transaction.on_commit(lambda pk=pk: run_enqueue(run_id=pk))
    for run in RUN_LEASE.expired():
        if run.attempts < settings.RUN_MAX_ATTEMPTS:
            if RUN_LEASE.reap(run, status=RunStatus.QUEUED):
                transaction.on_commit(lambda pk=run.pk: run_enqueue(run_id=pk))
                requeued += 1
        else:
            reason = f"The worker stopped before finishing (attempt {run.attempts} of {settings.RUN_MAX_ATTEMPTS})."
            sorry = f"Sorry, this question could not be answered: {reason[0].lower()}{reason[1:]}"
            done = RUN_LEASE.reap(
                run, status=RunStatus.FAILED, finished_at=timezone.now(), error=reason, answer_markdown=sorry, answer_plain=sorry
            )
            if done:
                failed += 1
                # The requester still gets an answer (Slack thread, callback), after commit.
                transaction.on_commit(lambda pk=run.pk, tenant_id=run.tenant_id: _deliver_failed(pk, tenant_id))
    return {"requeued": requeued, "failed": failed, "resent": len(resent)}
