"""Proactive alerts: notify an owner once per threshold crossing (issue 11 part 5).

An ``alerts`` schedule's run (:func:`agents.playbooks.brief.alerts_answer`) lists the deals and
accounts above their KB thresholds; after the run, :func:`alerts_record` compares that list with
the stored :class:`~agents.models.AlertState` rows (one per tenant, entity kind, entity key and
threshold):

- above now, below (or unknown) before -> a **crossing**: ``crossings`` + 1, the owner notified;
- above now and before -> nothing (no repeat notification at every run);
- below now (not listed) but above before -> re-armed (``above`` False): the next time it goes
  above is a new crossing.

Only the (kind, threshold) pairs the run evaluated are updated: a part of the analysis that failed
(e.g. a missing churn document) neither notifies nor re-arms.

Notifications are ``slack_notify`` actions (audited, retried, idempotent per run and recipient):
a direct message to the owner when the tenant maps CRM owners to Slack members
(``settings.actions.slack_users``), else one message to the schedule's Slack channel listing the
crossings by owner. A schedule with a webhook endpoint also gets one ``alerts.crossed`` webhook
action per run with crossings.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from actions.handlers.base import ActionInvalid
from actions.selectors import action_policy_get
from actions.services import action_create
from agents.models import AlertState, AnalysisSchedule, Run

logger = logging.getLogger(__name__)

MAX_LINES = 25  # crossings listed per message; the rest are counted
MAX_WEBHOOK_ITEMS = 500


@dataclass
class AlertOutcome:
    """What one evaluation did: ``crossed`` items (dicts from the run's entities), ``rearmed``
    count, ``still_above`` count, ``notifications`` (action ids) and ``unrouted`` (crossings with no
    Slack member and no schedule channel to tell)."""

    crossed: list[dict] = field(default_factory=list)
    rearmed: int = 0
    still_above: int = 0
    notifications: list[int] = field(default_factory=list)
    unrouted: int = 0


def alerts_record(*, run: Run, schedule: AnalysisSchedule | None) -> AlertOutcome:
    """Update the crossing state from ``run.entities["alerts"]`` and notify the crossings.

    ``run`` must be a finished alerts run of ``schedule``'s tenant (inside its tenant context).
    State changes are made under row locks in one transaction, so two deliveries of the same run
    cannot both notify. Returns an :class:`AlertOutcome`.
    """
    payload = (run.entities or {}).get("alerts") or {}
    evaluated = [tuple(e) for e in payload.get("evaluated") or []]
    items = [i for i in payload.get("items") or [] if (i.get("kind"), i.get("threshold")) in set(evaluated)]
    outcome = AlertOutcome()
    now = timezone.now()
    with transaction.atomic():
        for kind, threshold in evaluated:
            current = {i["key"]: i for i in items if i["kind"] == kind and i["threshold"] == threshold}
            states = {
                s.entity_key: s
                for s in AlertState.objects.select_for_update().filter(tenant=run.tenant, entity_kind=kind, threshold=threshold)
            }
            # Other thresholds of the same kind (an editor changed the threshold): obsolete, re-armed.
            outcome.rearmed += AlertState.objects.filter(tenant=run.tenant, entity_kind=kind, above=True).exclude(threshold=threshold).update(above=False, last_evaluated_at=now)
            new_rows, changed = [], []
            for key, item in current.items():
                state = states.get(key)
                if state is None:
                    new_rows.append(AlertState(tenant=run.tenant, entity_kind=kind, entity_key=key[:255], threshold=threshold, above=True, value=item.get("value"), owner=(item.get("owner") or "")[:200], crossings=1, last_crossed_at=now, last_evaluated_at=now))
                    outcome.crossed.append(item)
                    continue
                if not state.above:
                    state.above, state.crossings, state.last_crossed_at = True, state.crossings + 1, now
                    outcome.crossed.append(item)
                else:
                    outcome.still_above += 1
                state.value, state.owner, state.last_evaluated_at = item.get("value"), (item.get("owner") or "")[:200], now
                changed.append(state)
            for key, state in states.items():
                if key not in current and state.above:
                    state.above, state.last_evaluated_at = False, now
                    changed.append(state)
                    outcome.rearmed += 1
            AlertState.objects.bulk_create(new_rows, batch_size=500)
            AlertState.objects.bulk_update(changed, ["above", "crossings", "last_crossed_at", "value", "owner", "last_evaluated_at"], batch_size=500)
        if outcome.crossed:
            _notify(run=run, schedule=schedule, outcome=outcome)
    logger.info("alerts run %s: %s crossed, %s re-armed, %s still above", run.pk, len(outcome.crossed), outcome.rearmed, outcome.still_above)
    return outcome


def _message(as_of: str, crossed: list[dict], *, by_owner: bool) -> str:
    lines = [f"**Risk alert** (as of {as_of}): {len(crossed)} new threshold crossing{'s' if len(crossed) != 1 else ''}."]
    shown = sorted(crossed, key=lambda i: (i.get("owner") or "", i["kind"], i["key"]))[:MAX_LINES]
    for i in shown:
        owner = f" (owner: {i['owner']})" if by_owner and i.get("owner") else ""
        lines.append(f"- {i['kind']} {i['label']}{owner} [{i['threshold']}]")
    if len(crossed) > MAX_LINES:
        lines.append(f"…and {len(crossed) - MAX_LINES} more.")
    return "\n".join(lines)


def _notify(*, run: Run, schedule: AnalysisSchedule | None, outcome: AlertOutcome) -> None:
    members = action_policy_get(tenant=run.tenant).slack_users
    direct: dict[str, list[dict]] = defaultdict(list)
    rest: list[dict] = []
    for item in outcome.crossed:
        member = members.get(item.get("owner") or "")
        (direct[member] if member else rest).append(item)
    as_of = run.as_of.isoformat()
    messages = [(member, _message(as_of, items, by_owner=False)) for member, items in sorted(direct.items())]
    channel = schedule.slack_channel if schedule is not None else ""
    if rest and channel:
        messages.append((channel, _message(as_of, rest, by_owner=True)))
    elif rest:
        outcome.unrouted = len(rest)
    for where, text in messages:
        try:
            proposal = action_create(
                tenant=run.tenant, kind="slack_notify", payload={"channel": where, "text": text},
                idempotency_key=f"alert:{run.tracking_id}:{where}"[:128], run=run, requested_via="schedule",
            )
        except ActionInvalid as exc:
            logger.warning("alerts run %s: notification to %s not valid: %s", run.pk, where, exc)
            continue
        outcome.notifications.append(proposal.action.pk)
    if schedule is not None and schedule.webhook_endpoint_id:
        data = {"run": str(run.tracking_id), "as_of": as_of, "crossings": outcome.crossed[:MAX_WEBHOOK_ITEMS], "total": len(outcome.crossed)}
        try:
            proposal = action_create(
                tenant=run.tenant, kind="webhook", payload={"endpoint_id": schedule.webhook_endpoint_id, "event_type": "alerts.crossed", "data": data},
                idempotency_key=f"alert:{run.tracking_id}:webhook", run=run, requested_via="schedule",
            )
            outcome.notifications.append(proposal.action.pk)
        except ActionInvalid as exc:
            logger.warning("alerts run %s: webhook not valid: %s", run.pk, exc)
