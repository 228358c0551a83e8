"""django-q2 tasks: thin wrappers that load rows by id and call one service (DESIGN.md §3.6).

Never name a task parameter ``hook``, ``group``, ``timeout``... (django-q2 consumes them).
"""

from __future__ import annotations

import logging

from actions.approvals import approval_prompt_post, approval_prompt_refresh, slack_ephemeral_post
from actions.models import Action
from actions.services import action_execute, actions_dispatch_due
from tenants.context import tenant_context
from tenants.models import Tenant

logger = logging.getLogger(__name__)


def execute_action(action_id: int) -> str:
    """Claim and execute action ``action_id``; a duplicate delivery finds it claimed (or not due)
    and does nothing. Returns the resulting status, or ``"skipped"``."""
    action = action_execute(action_id=action_id)
    return action.status if action is not None else "skipped"


def dispatch_due_actions() -> dict[str, int]:
    """Scheduled every minute: recover actions of dead workers, enqueue due retries."""
    return actions_dispatch_due()


def _load(action_id: int) -> Action | None:
    return Action.objects.for_task(action_id, related=("run",))


def post_approval_prompt(action_id: int) -> bool:
    """Post the Approve/Reject prompt of a proposed action in Slack (see ``actions.approvals``)."""
    action = _load(action_id)
    if action is None:
        return False
    with tenant_context(action.tenant):
        return approval_prompt_post(action=action)


def refresh_approval_prompt(action_id: int) -> bool:
    """Replace the buttons of an action's Slack prompt by its current outcome."""
    action = _load(action_id)
    if action is None:
        return False
    with tenant_context(action.tenant):
        return approval_prompt_refresh(action=action)


def tell_slack_user(tenant_id: int, channel: str, user: str, text: str, thread_ts: str = "") -> bool:
    """An ephemeral Slack message to ``user`` in ``channel`` (refusals of approvals)."""
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return False
    with tenant_context(tenant):
        return slack_ephemeral_post(channel=channel, user=user, text=text, thread_ts=thread_ts)
