"""Slack button clicks: action approvals and answer feedback (interactivity, DESIGN.md §2).

:func:`slack_interaction_handle` acts on one verified ``block_actions`` payload (the endpoint is
:func:`actions.views.slack_interactivity`): the 👍/👎 feedback buttons under an answer (stored on
the run, :func:`agents.slack_events.slack_feedback_record`) and the action approval prompts
(:mod:`actions.approvals`). Only a member of the tenant whose ``Membership.slack_user_id`` is the
clicking user and whose role is one of the policy's ``approver_roles`` may approve or reject;
anyone else gets an ephemeral refusal (sent by the worker task ``actions.tasks.tell_slack_user``)
and nothing changes.
"""

from __future__ import annotations

import logging

from django.db import transaction

from actions.approvals import APPROVE_ACTION_ID, REJECT_ACTION_ID
from actions.selectors import action_get, slack_approver_get
from actions.services import ActionStateError, action_approve, action_reject
from agents.slack_events import slack_feedback_record
from integrations.slack.blocks import FEEDBACK_ACTION_IDS
from integrations.slack.selectors import SlackApp
from revops.lib.queue import task_enqueue
from tenants.models import Tenant

logger = logging.getLogger(__name__)


def _tell(tenant: Tenant, channel: str, user: str, text: str, thread_ts: str) -> None:
    transaction.on_commit(lambda: task_enqueue("actions.tasks.tell_slack_user", tenant.pk, channel, user, text, thread_ts, task_name=f"tell-{tenant.pk}-{user}"))


def slack_interaction_handle(*, tenant: Tenant, payload: dict, app: SlackApp | None) -> str:
    """Act on one verified interaction payload for ``tenant`` (in context); ``app`` is the
    tenant's Slack app that verified the request (not loaded again). Returns what
    happened: ``"recorded"``/``"unchanged"`` (feedback), ``"approved"``, ``"rejected"``,
    ``"refused: <why>"`` or ``"ignored: <why>"`` (e.g. feedback on another tenant's run)."""
    if payload.get("type") != "block_actions":
        return f"ignored: payload type {str(payload.get('type'))[:40]}"
    team_id = str((payload.get("team") or {}).get("id") or "")
    if app is not None and app.team_id and team_id and team_id != app.team_id:
        return "ignored: other team"
    vote = next(
        (a for a in payload.get("actions") or [] if isinstance(a, dict) and a.get("action_id") in FEEDBACK_ACTION_IDS), None
    )
    if vote is not None:
        return slack_feedback_record(
            tenant=tenant,
            run_ref=str(vote.get("value") or "")[:64],
            slack_user=str((payload.get("user") or {}).get("id") or ""),
            value=FEEDBACK_ACTION_IDS[str(vote["action_id"])],
        )
    clicked = next(
        (a for a in payload.get("actions") or [] if isinstance(a, dict) and a.get("action_id") in (APPROVE_ACTION_ID, REJECT_ACTION_ID)),
        None,
    )
    if clicked is None:
        return "ignored: not an approval button"
    user_id = str((payload.get("user") or {}).get("id") or "")
    container = payload.get("container") or {}
    channel = str(container.get("channel_id") or (payload.get("channel") or {}).get("id") or "")
    thread_ts = str(container.get("thread_ts") or "")
    try:
        action_id = int(str(clicked.get("value") or ""))
    except ValueError:
        return "ignored: bad action id"
    action = action_get(action_id=action_id)  # scoped: another tenant's action is not found
    if action is None:
        return "ignored: no such action"
    member = slack_approver_get(tenant=tenant, slack_user_id=user_id)
    if member is None:
        _tell(tenant, channel, user_id, f"You are not allowed to approve or reject action {action.pk}.", thread_ts)
        logger.warning("tenant %s: Slack user %s may not decide action %s", tenant.slug, user_id[:32], action.pk)
        return "refused: not an approver"
    approve = clicked.get("action_id") == APPROVE_ACTION_ID
    try:
        if approve:
            action_approve(action=action, actor=member.user, via=f"slack:{user_id}")
        else:
            action_reject(action=action, actor=member.user, via=f"slack:{user_id}", reason="rejected in Slack")
    except ActionStateError as exc:
        _tell(tenant, channel, user_id, f"Nothing changed: {exc}.", thread_ts)
        return f"refused: {exc}"
    return "approved" if approve else "rejected"
