"""Execution specialist (first cut): turns an instruction into a *proposed* action with a
preview. Nothing is sent here: delivery, approval and handlers come with the actions issue."""

from __future__ import annotations

import hashlib
import re

from actions.models import Action, ActionKind
from agents.models import StepKind
from agents.playbooks.base import SpecialistAnswer
from agents.runtime.context import RunContext

AGENT = "execution"


def answer(ctx: RunContext, query: str, *, prior_markdown: str) -> SpecialistAnswer:
    """Record a proposed action for ``query`` (``prior_markdown`` is what earlier specialists found)."""
    channel = re.search(r"(#[\w-]+)", query)
    if channel or re.search(r"\b(slack|notify|alert|ping|message)\b", query, re.I):
        kind, target = ActionKind.SLACK_NOTIFY, channel.group(1) if channel else "the opportunity owner"
    elif re.search(r"\b(update|set|change)\b", query, re.I):
        kind, target = ActionKind.CRM_UPDATE, "CRM"
    elif re.search(r"\bwebhook\b", query, re.I):
        kind, target = ActionKind.WEBHOOK, "registered webhook"
    else:
        kind, target = ActionKind.SLACK_NOTIFY, "the requester"
    preview = prior_markdown.strip() or query
    key = hashlib.sha256(f"{ctx.run.tracking_id}:{kind}:{target}".encode()).hexdigest()[:40]
    action, _ = Action.objects.get_or_create(
        tenant=ctx.run.tenant,
        idempotency_key=key,
        defaults={"run": ctx.run, "kind": kind, "target": target, "payload": {"text": preview[:4000]}, "preview": preview[:4000]},
    )
    ctx.record(agent=AGENT, kind=StepKind.TOOL_CALL, name="action_propose", input={"kind": kind, "target": target}, output_summary=f"action {action.pk} proposed")
    return SpecialistAnswer(
        AGENT,
        f"### Proposed action\n\n- **Action {action.pk}**: {action.get_kind_display()} to {target}, status *{action.status}*.\n"
        "- Nothing has been sent: this build records actions for review; delivery and approval are not enabled yet.",
        {"action_id": action.pk},
    )
