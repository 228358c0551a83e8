"""Writes for actions: create (with the approval policy), approve/reject, claim, execute with
retries, recover from dead workers, retry now; webhook endpoints and signing secrets.

Every status change goes through :func:`_transition` (a row lock plus a status check, then the
update and an :class:`ActionEvent` in the same transaction), except the worker's claim, which is
one conditional ``UPDATE ... WHERE status = 'queued'`` so two deliveries of the same task can
never both run the action.

Retry policy (``revops/settings.py`` reads the first four from the environment through
``revops.lib.env``; the last two are optional Django settings with the defaults shown):

- ``ACTIONS_MAX_ATTEMPTS`` (8): attempts before an action is ``dead``.
- ``ACTIONS_RETRY_BASE_SECONDS`` (1.0), ``ACTIONS_RETRY_FACTOR`` (4.0),
  ``ACTIONS_RETRY_MAX_DELAY_SECONDS`` (3600): the delay before attempt ``n + 1`` is
  ``d = min(max, base * factor ** (n - 1))`` with equal jitter (uniform in ``[d/2, d]``), and at
  least the receiver's ``Retry-After`` (capped at the max). Defaults: ~1 s, 4 s, 16 s, 64 s,
  4 min, 17 min, 1 h: about 1.4 h from the first to the eighth attempt.
- ``ACTIONS_INLINE_RETRY_MAX_SECONDS`` (5): a retry due within this many seconds is made by the
  same worker after a sleep (it keeps its claim); a later one releases the action as ``queued``
  with ``next_attempt_at``, and :func:`actions_dispatch_due` (scheduled every minute) enqueues
  it when due.
- ``ACTIONS_LEASE_SECONDS`` (120): how long a claim lasts; a running action whose lease ran out
  (its worker was killed) is requeued by :func:`actions_dispatch_due`, counting the lost attempt.

Claims, leases, the reaper and the resending of lost broker messages use the one lease helper
(:mod:`revops.lib.lease`) with :data:`ACTION_LEASE`.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from actions.handlers import handler_for
from actions.callback_status import run_callback_status_store
from actions.handlers.base import ActionInvalid, PermanentError, RetryableError
from actions.models import Action, ActionEvent, ActionKind, ActionStatus
from actions.selectors import action_policy_get
from actions.signing import callback_secrets_ensure, signing_secret_rotate, webhook_endpoint_create, webhook_endpoint_disable
from revops.lib.lease import Lease
from revops.lib.queue import task_enqueue
from revops.lib.redact import redact, redact_text
from revops.logs import log_context
from tenants.context import tenant_context
from tenants.models import Tenant

logger = logging.getLogger(__name__)

S = ActionStatus
RESEND_QUEUED_AFTER = timedelta(minutes=5)
MAX_ERROR_CHARS = 2000

__all__ = [
    "ActionInvalid",
    "ActionStateError",
    "Proposal",
    "action_approve",
    "action_claim",
    "action_create",
    "action_execute",
    "action_reject",
    "action_retry_now",
    "action_run",
    "actions_dispatch_due",
    "callback_secrets_ensure",
    "retry_delay",
    "signing_secret_rotate",
    "webhook_endpoint_create",
    "webhook_endpoint_disable",
]


class ActionStateError(Exception):
    """The action is not in a status that allows the operation; the message names its status."""


# --- settings ------------------------------------------------------------------------------------


def _max_attempts() -> int:
    return settings.ACTIONS_MAX_ATTEMPTS


def _lease() -> timedelta:
    return timedelta(seconds=float(getattr(settings, "ACTIONS_LEASE_SECONDS", 120)))


ACTION_LEASE = Lease(
    model=Action,
    duration=_lease,
    resend_after=RESEND_QUEUED_AFTER,
    max_attempts="max_attempts",
    queued=S.QUEUED,
    running=S.RUNNING,
    expires_field="claimed_until",
    token_field="claim_token",
    due_field="next_attempt_at",
)
"""Actions: a ``claim_token`` and an explicit expiry (``claimed_until``), a per-row attempt
budget and a due time; an action never handed to the broker is resent as soon as it is due."""


def _inline_max() -> float:
    return float(getattr(settings, "ACTIONS_INLINE_RETRY_MAX_SECONDS", 5))


def retry_delay(*, attempt: int, retry_after: float | None = None) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based) before the next one.

    Exponential backoff with equal jitter: ``d = min(cap, base * factor ** (attempt - 1))``, the
    result uniform in ``[d/2, d]``; never less than ``retry_after`` (the receiver's
    ``Retry-After``, capped at ``cap``). See the module doc for the settings and defaults.
    """
    base = settings.ACTIONS_RETRY_BASE_SECONDS
    factor = settings.ACTIONS_RETRY_FACTOR
    cap = settings.ACTIONS_RETRY_MAX_DELAY_SECONDS
    nominal = min(cap, base * factor ** max(0, attempt - 1))
    delay = nominal / 2 + random.uniform(0, nominal / 2)
    if retry_after is not None:
        delay = max(delay, min(float(retry_after), cap))
    return delay


# --- the one place statuses change ----------------------------------------------------------------


Decision = tuple[str, dict[str, Any], str]  # (to_status, field updates, audit note)


def _record(row: Action, *, previous: str, actor=None, actor_label: str, note: str) -> None:
    ActionEvent.objects.for_tenant(row.tenant_id).create(
        tenant_id=row.tenant_id,
        action_id=row.pk,
        from_status=previous,
        to_status=row.status,
        actor=actor,
        actor_label=actor_label[:64],
        attempt=row.attempts,
        note=redact_text(note)[:4000],
    )


def _transition(
    action: Action,
    *,
    allowed_from: set[str],
    decide: Callable[[Action], Decision | None],
    actor=None,
    actor_label: str,
    where: Q | None = None,
) -> Action | None:
    """Lock ``action`` (a row read before, at least its pk and tenant), check its status (and
    ``where``), apply ``decide(row)`` and record the event, atomically. Returns the updated row,
    or None when the status (or ``where``) did not match or ``decide`` returned None."""
    with transaction.atomic():
        row = (
            Action.objects.for_tenant(action.tenant_id)
            .select_for_update()
            .filter(pk=action.pk, status__in=allowed_from)
            .filter(where or Q())
            .first()
        )
        if row is None:
            return None
        decision = decide(row)
        if decision is None:
            return None
        to, updates, note = decision
        previous = row.status
        for name, value in updates.items():
            setattr(row, name, value)
        row.status = to
        row.save(update_fields=[*updates, "status", "updated_at"])
        _record(row, previous=previous, actor=actor, actor_label=actor_label, note=note)
    return row


def _enqueue_on_commit(action_id: int) -> None:
    transaction.on_commit(lambda: task_enqueue("actions.tasks.execute_action", action_id, task_name=f"action-{action_id}"))


# --- create / approve / reject -------------------------------------------------------------------


@dataclass(frozen=True)
class Proposal:
    """What :func:`action_create` did: ``created`` False when the idempotency key was already
    used (``action`` is then the first action with that key, unchanged)."""

    action: Action
    created: bool

    @property
    def awaiting_approval(self) -> bool:
        return self.action.status == S.PROPOSED


def action_create(
    *,
    tenant: Tenant,
    kind: str,
    payload: dict,
    idempotency_key: str,
    run=None,
    requested_by=None,
    requested_via: str = "agent",
    enqueue: bool = True,
) -> Proposal:
    """Validate and record an action; queue it when the tenant's policy lets its kind run,
    otherwise leave it ``proposed`` for a human (and post the Slack approval prompt).

    Args:
        tenant: the owner; ``run`` (optional) must belong to it.
        kind: an ``ActionKind`` value; ``payload`` its typed payload (see ``actions.handlers``).
        idempotency_key: unique per tenant (<= 128 chars); a repeated key returns the first
            action, whatever the payload.
        requested_by / requested_via: the user (if any) and a label of who asked.
        enqueue: False leaves a queued action for the caller to execute in-process
            (:func:`action_execute`), as run callbacks do.

    Returns:
        :class:`Proposal`.

    Raises:
        ActionInvalid: unknown kind or invalid payload (``errors`` by field).
        ValueError: empty or over-long idempotency key.
    """
    if not idempotency_key or len(idempotency_key) > 128:
        raise ValueError("idempotency_key must be 1-128 characters")
    existing = Action.objects.for_tenant(tenant).filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return Proposal(existing, False)
    handler = handler_for(kind)
    clean = handler.validate(tenant=tenant, payload=payload)
    described = handler.describe(tenant=tenant, payload=clean)
    policy = action_policy_get(tenant=tenant)
    held = handler.needs_approval(policy=policy, tenant=tenant, payload=clean, run=run)
    now = timezone.now()
    try:
        with transaction.atomic():
            action = Action.objects.for_tenant(tenant).create(
                tenant=tenant,
                run=run,
                kind=kind,
                target=described.target,
                payload=clean,
                preview=described.preview,
                status=S.PROPOSED if held else S.QUEUED,
                idempotency_key=idempotency_key,
                max_attempts=_max_attempts(),
                next_attempt_at=None if held else now,
                enqueued_at=now if (enqueue and not held) else None,
                requested_by=requested_by,
                requested_via=requested_via[:64],
            )
            note = "held for approval by the tenant's policy" if held else "runs without approval (tenant policy)"
            _record(action, previous="", actor=requested_by, actor_label=requested_via or "agent", note=note)
    except IntegrityError:
        first = Action.objects.for_tenant(tenant).filter(idempotency_key=idempotency_key).first()
        if first is None:
            raise
        return Proposal(first, False)
    if held:
        transaction.on_commit(
            lambda: task_enqueue("actions.tasks.post_approval_prompt", action.pk, task_name=f"action-{action.pk}-prompt")
        )
    elif enqueue:
        _enqueue_on_commit(action.pk)
    logger.debug("action %s (%s) created %s", action.pk, kind, action.status)
    return Proposal(action, True)


def _after_decision(action: Action) -> None:
    if action.approval_message:
        transaction.on_commit(
            lambda: task_enqueue("actions.tasks.refresh_approval_prompt", action.pk, task_name=f"action-{action.pk}-refresh")
        )


def action_approve(*, action: Action, actor=None, via: str, note: str = "") -> Action:
    """Approve a ``proposed`` action and queue it (two audited transitions, one transaction);
    the task is enqueued on commit and the Slack prompt, if any, is updated.

    ``action`` must have been loaded for the right tenant (scoped manager); ``actor`` is the
    approving user (None for an API key), ``via`` a label (``"slack:U123"``,
    ``"api-key:ab12cd34"``). Raises :class:`ActionStateError` unless the action is proposed.
    """
    now = timezone.now()
    with transaction.atomic():
        row = _transition(
            action,
            allowed_from={S.PROPOSED},
            decide=lambda r: (S.APPROVED, {"approved_by": actor, "approved_via": via[:64], "approved_at": now}, note or "approved"),
            actor=actor,
            actor_label=via,
        )
        if row is None:
            raise ActionStateError(_state_message(action, "approved"))
        row = _transition(
            row,
            allowed_from={S.APPROVED},
            decide=lambda r: (S.QUEUED, {"next_attempt_at": now, "enqueued_at": now}, "queued for execution"),
            actor_label="policy",
        )
        _enqueue_on_commit(row.pk)
        _after_decision(row)
    logger.info("action %s approved via %s", row.pk, via)
    return row


def action_reject(*, action: Action, actor=None, via: str, reason: str = "") -> Action:
    """Reject a ``proposed`` action (terminal). Same conventions as :func:`action_approve`."""
    now = timezone.now()
    with transaction.atomic():
        row = _transition(
            action,
            allowed_from={S.PROPOSED},
            decide=lambda r: (S.REJECTED, {"finished_at": now, "last_error": f"rejected: {reason}"[:MAX_ERROR_CHARS] if reason else ""}, reason or "rejected"),
            actor=actor,
            actor_label=via,
        )
        if row is None:
            raise ActionStateError(_state_message(action, "rejected"))
        _after_decision(row)
    logger.info("action %s rejected via %s", row.pk, via)
    return row


def _state_message(action: Action, verb: str) -> str:
    status = Action.objects.for_tenant(action.tenant_id).filter(pk=action.pk).values_list("status", flat=True).first()
    return f"action {action.pk} is {status}; only proposed actions can be {verb}"


def action_retry_now(*, action: Action, actor=None, via: str) -> bool:
    """Queue a ``dead`` or ``failed`` action again with a fresh attempt budget (the audit trail
    keeps the earlier attempts). Returns False when the action is in another status."""
    now = timezone.now()
    row = _transition(
        action,
        allowed_from={S.DEAD, S.FAILED},
        decide=lambda r: (
            S.QUEUED,
            {"attempts": 0, "max_attempts": _max_attempts(), "next_attempt_at": now, "enqueued_at": now, "finished_at": None},
            f"retry now (after {r.attempts} attempt(s); last error: {r.last_error[:200]})",
        ),
        actor=actor,
        actor_label=via,
    )
    if row is None:
        return False
    _enqueue_on_commit(row.pk)
    return True


# --- execution ------------------------------------------------------------------------------------


def action_claim(*, action_id: int) -> Action | None:
    """Claim a due ``queued`` action for this worker (:data:`ACTION_LEASE`): one conditional
    UPDATE that moves it to ``running``, counts the attempt and sets a lease (``claim_token``,
    ``claimed_until``); the claim is audited in the same transaction.

    Returns the claimed row (tenant and run loaded), or None when it is not queued, not due, out
    of attempts, or another worker claimed it first: a duplicate task delivery does nothing.
    """
    now = timezone.now()
    with transaction.atomic():
        row = ACTION_LEASE.claim(action_id, select_related=("tenant", "run"), now=now, updated_at=now)
        if row is None:
            return None
        _record(row, previous=S.QUEUED, actor_label="worker", note=f"attempt {row.attempts} of {row.max_attempts}")
    return row


def _release(action: Action, decide: Callable[[Action], Decision]) -> Action | None:
    """A transition out of ``running`` that only the lease holder may make."""
    row = _transition(action, allowed_from={S.RUNNING}, decide=decide, actor_label="worker", where=ACTION_LEASE.held_q(action))
    if row is None:
        logger.warning("action %s: lease lost before the outcome was stored; the outcome is discarded", action.pk)
    return row


_CLEAR_CLAIM = ACTION_LEASE.cleared()


def _on_finished(action: Action) -> None:
    """Side notes of a final or deferred outcome: a run's callback status (derived in
    :mod:`actions.callback_status`), the Slack prompt."""
    payload = action.payload or {}
    if action.kind == ActionKind.WEBHOOK and payload.get("callback_url") and action.run_id:
        run_callback_status_store(run_id=action.run_id, action=action)
    if action.approval_message and action.status in (S.SUCCEEDED, S.FAILED, S.DEAD):
        transaction.on_commit(
            lambda: task_enqueue("actions.tasks.refresh_approval_prompt", action.pk, task_name=f"action-{action.pk}-refresh")
        )


def action_run(*, action: Action) -> Action:
    """Execute a claimed action with its handler until it succeeds, fails for good, runs out of
    attempts, or its next retry is too far off to wait for (then it is ``queued`` again).

    Must be called inside ``tenant_context(action.tenant)`` by the worker holding the claim.
    Returns the action as stored afterwards. Never raises for handler failures.
    """
    handler = handler_for(action.kind)
    while True:
        retry_after = None
        try:
            result = handler.execute(action)
        except PermanentError as exc:
            error, result, outcome = str(exc), exc.result, "permanent"
        except RetryableError as exc:
            error, result, outcome, retry_after = str(exc), exc.result, "retry", exc.retry_after
        except Exception as exc:  # a bug or an unexpected library error: retry, never lose the action
            logger.exception("action %s: handler %s raised", action.pk, action.kind)
            error, result, outcome = f"{type(exc).__name__}: {exc}", {}, "retry"
        else:
            error, outcome = "", "success"
        # Both are stored and shown (admin, API): a handler's result may echo third-party text
        # (a receiver's response body), so it is redacted like the error.
        error = redact_text(error)[:MAX_ERROR_CHARS]
        result = redact(result or {})
        now = timezone.now()
        if outcome == "success":
            row = _release(action, lambda r: (S.SUCCEEDED, {"result": result, "last_error": "", "finished_at": now, **_CLEAR_CLAIM}, f"attempt {r.attempts} succeeded"))
            return _finish(action, row)
        if outcome == "permanent":
            row = _release(action, lambda r: (S.FAILED, {"result": result, "last_error": error, "finished_at": now, **_CLEAR_CLAIM}, f"attempt {r.attempts} failed permanently: {error}"))
            return _finish(action, row)
        if action.attempts >= action.max_attempts:
            row = _release(
                action,
                lambda r: (S.DEAD, {"result": result, "last_error": error, "finished_at": now, **_CLEAR_CLAIM},
                           f"attempt {r.attempts} of {r.max_attempts} failed: {error}; no attempts left"),
            )
            return _finish(action, row)
        delay = retry_delay(attempt=action.attempts, retry_after=retry_after)
        if delay > _inline_max():
            due = now + timedelta(seconds=delay)
            row = _release(
                action,
                lambda r: (S.QUEUED, {"result": result, "last_error": error, "next_attempt_at": due, "enqueued_at": None, **_CLEAR_CLAIM},
                           f"attempt {r.attempts} of {r.max_attempts} failed: {error}; next attempt in {delay:.1f} s"),
            )
            return _finish(action, row)
        # Retry soon, in this worker: record the failed attempt, keep (and extend) the claim.
        kept = _transition(
            action,
            allowed_from={S.RUNNING},
            decide=lambda r: (S.RUNNING, {"last_error": error, "result": result, **ACTION_LEASE.expiry_updates(now, extra=timedelta(seconds=delay))},
                              f"attempt {r.attempts} of {r.max_attempts} failed: {error}; retrying in {delay:.2f} s"),
            actor_label="worker",
            where=ACTION_LEASE.held_q(action),
        )
        if kept is None:
            logger.warning("action %s: lease lost during retries", action.pk)
            return _stored(action)
        time.sleep(delay)
        if not ACTION_LEASE.renew(action, count_attempt=True, updated_at=timezone.now()):
            logger.warning("action %s: lease lost during retries", action.pk)
            return _stored(action)
        action.refresh_from_db(fields=["attempts", "claimed_until", "last_error", "result"])


def _stored(action: Action) -> Action:
    """The action as stored now (another worker or the dispatcher may have changed it)."""
    return Action.objects.for_tenant(action.tenant_id).get(pk=action.pk)


def _finish(action: Action, row: Action | None) -> Action:
    if row is None:
        return _stored(action)  # report what is stored
    _on_finished(row)
    log = logger.info if row.status == S.SUCCEEDED else logger.warning
    log("action %s %s after %s attempt(s)", row.pk, row.status, row.attempts)
    return row


def action_execute(*, action_id: int) -> Action | None:
    """Claim and run one action (the body of ``actions.tasks.execute_action``); None when there
    was nothing to do (already claimed, finished, not due)."""
    action = action_claim(action_id=action_id)
    if action is None:
        return None
    with tenant_context(action.tenant), log_context(action_id=action.pk, run_id=action.run_id):  # ids on log lines
        return action_run(action=action)


def actions_dispatch_due(*, limit: int = 500) -> dict[str, int]:
    """Maintenance, scheduled every minute (all tenants):

    1. a ``running`` action whose lease ran out (its worker died) is requeued with a backoff
       delay, or marked ``dead`` when that was its last attempt ("recovered" / "dead");
    2. a ``queued`` action that is due and was not enqueued in the last 5 minutes is enqueued
       ("enqueued"): deferred retries, and messages lost by the broker;
    3. a ``queued`` action with no attempts left is marked ``dead``.

    Returns the counts. Safe to run concurrently with workers (row locks, lease checks).
    """
    now = timezone.now()
    counts = {"recovered": 0, "dead": 0, "enqueued": 0}
    for stale in ACTION_LEASE.expired(limit=limit, now=now):
        def decide(r: Action) -> Decision:
            note = f"the worker stopped during attempt {r.attempts} of {r.max_attempts} (lease expired)"
            if r.attempts >= r.max_attempts:
                return S.DEAD, {"last_error": note, "finished_at": now, **_CLEAR_CLAIM}, f"{note}; no attempts left"
            due = now + timedelta(seconds=retry_delay(attempt=r.attempts))
            return S.QUEUED, {"last_error": note, "next_attempt_at": due, "enqueued_at": None, **_CLEAR_CLAIM}, f"{note}; requeued"

        row = _transition(stale, allowed_from={S.RUNNING}, decide=decide, actor_label="dispatcher", where=ACTION_LEASE.expired_q(now))
        if row is not None:
            counts["dead" if row.status == S.DEAD else "recovered"] += 1
            _on_finished(row)
    for exhausted in ACTION_LEASE.exhausted(limit=limit):
        row = _transition(
            exhausted,
            allowed_from={S.QUEUED},
            decide=lambda r: (S.DEAD, {"finished_at": now}, "no attempts left") if r.attempts >= r.max_attempts else None,
            actor_label="dispatcher",
        )
        if row is not None:
            counts["dead"] += 1
            _on_finished(row)
    due = [row.pk for row in ACTION_LEASE.lost(limit=limit, now=now)]
    if due:
        ACTION_LEASE.mark_enqueued(due, now=now)
        for pk in due:
            _enqueue_on_commit(pk)
        counts["enqueued"] = len(due)
    return counts


# --- webhook endpoints and signing secrets: one implementation, in actions.signing ---------------
