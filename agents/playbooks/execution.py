"""Execution specialist: turns an instruction into actions (``actions`` app), each with a preview.

Deterministic planning (no LLM needed), one action per destination it can name exactly:

- ``#channel`` in the request, or notify/alert/message wording -> ``slack_notify``: to the
  channel; to the deal owners named by the deal analysis ("**Owners**: ...") through the
  policy's ``slack_users`` map or a member whose name matches and who has a Slack id; to the
  requester (a Slack run); else to the policy's ``default_channel``;
- update/set/change + an Opportunity/Contact Salesforce id + a known field + "to <value>" ->
  ``crm_update``;
- log/record/write/save + "insight" -> ``warehouse_write`` (score from the deal health score,
  or an explicit "score 0.8"; never invented);
- "webhook" -> ``webhook`` to the registered endpoint named in the request (or the only one).

The tenant's policy decides what runs at once (by default notifications and webhooks to
registered endpoints) and what waits in ``proposed`` for a human (CRM updates, warehouse
writes): this module never executes a held action. The answer lists every action id with its
status and how to approve it. A request it cannot map to an exact destination gets an
explanation, not a guess. An action whose connector the tenant lacks (a CRM update without a
Salesforce connector, a notification without a Slack bot token, an insight without an insights
table: :func:`actions.connectors.action_connector_missing`) is not proposed, since approving it
could only fail; the answer names the missing connector and how to add it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from actions.connectors import action_connector_missing
from actions.handlers.base import ActionInvalid
from actions.models import Action, ActionKind, ActionStatus, WebhookEndpoint
from actions.selectors import action_policy_get
from actions.services import action_create
from agents.models import StepKind
from agents.playbooks.base import SpecialistAnswer
from agents.playbooks.render import render_answer
from agents.runtime.text import markdown_to_plain
from agents.runtime.context import RunContext
from tenants.models import Membership

AGENT = "execution"

_CHANNEL = re.compile(r"(?<![\w<])#([a-z0-9][a-z0-9._-]{0,79})", re.I)
_NOTIFY = re.compile(r"\b(slack|notify|alert|ping|message|send|post|tell)\b", re.I)
_OWNER = re.compile(r"\b(owner|owners|account executive|ae|rep)\b", re.I)
_ME = re.compile(r"\b(me|myself)\b", re.I)
_CRM_VERB = re.compile(r"\b(update|set|change|move)\b", re.I)
_CRM_RECORD = re.compile(r"\b(opportunity|opp|deal|contact)\s+(?:id\s+)?([A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?)\b", re.I)
_CRM_VALUE = re.compile(r"\bto\s+[\"“']?(.+?)[\"”']?\s*[.!]?\s*$", re.I | re.S)
_INSIGHT = re.compile(r"\b(log|record|write|save|store|add)\b.*\binsights?\b", re.I | re.S)
_SCORE = re.compile(r"\bscore\s*(?:of\s*)?([01](?:\.\d+)?)\b", re.I)
_WEBHOOK = re.compile(r"\bwebhooks?\b", re.I)
_OWNERS_LINE = re.compile(r"\*\*Owners?\*\*:\s*(.+)")
_HEALTH_LINE = re.compile(r"\*\*Deal health\*\*:\s*(\d{1,3})/100\s*\(([^)]+)\)")

# Field wording -> Salesforce API name, per object.
CRM_FIELDS = {
    "Opportunity": {
        "stage": "StageName", "close date": "CloseDate", "amount": "Amount", "next step": "NextStep",
        "probability": "Probability", "forecast category": "ForecastCategoryName", "description": "Description",
    },
    "Contact": {"title": "Title", "email": "Email", "phone": "Phone", "department": "Department", "description": "Description"},
}


@dataclass
class Planned:
    """An action the execution agent intends to propose: handler ``kind`` and its payload."""
    kind: str
    payload: dict


def _member_slack_ids(ctx: RunContext) -> dict[str, str]:
    """Full name (stripped, lower-cased) -> Slack user id of the tenant's members that have one;
    the first member wins when two share a name. One query."""
    ids: dict[str, str] = {}
    for member in Membership.objects.filter(tenant=ctx.run.tenant).exclude(slack_user_id="").select_related("user"):
        ids.setdefault(member.user.get_full_name().strip().lower(), member.slack_user_id)
    return ids


def _plan_slack(ctx: RunContext, query: str, body: str, notes: list[str]) -> list[Planned]:
    policy = action_policy_get(tenant=ctx.run.tenant)
    header = f"*From RevOps AI* (run {ctx.run.tracking_id})\n\n"
    channels = [f"#{c.lower()}" for c in _CHANNEL.findall(query)]
    plans = [Planned(ActionKind.SLACK_NOTIFY, {"channel": c, "text": header + body}) for c in dict.fromkeys(channels)]
    if plans:
        return plans
    if _OWNER.search(query):
        owners_line = next(iter(_OWNERS_LINE.findall(body)), "")
        owners = [o.strip() for o in owners_line.split(",") if o.strip()]
        if not owners:
            notes.append("I could not tell who the owner is: the deal analysis named no owner.")
            return []
        unmapped = []
        members = _member_slack_ids(ctx) if any(o not in policy.slack_users for o in owners) else {}
        for owner in owners:
            user_id = policy.slack_users[owner] if owner in policy.slack_users else members.get(owner.lower(), "")
            if user_id:
                plans.append(Planned(ActionKind.SLACK_NOTIFY, {"channel": user_id, "text": header + body}))
            else:
                unmapped.append(owner)
        if unmapped and policy.default_channel:
            text = f"{header}For {', '.join(unmapped)} (no Slack account on file):\n\n{body}"
            plans.append(Planned(ActionKind.SLACK_NOTIFY, {"channel": policy.default_channel, "text": text}))
        elif unmapped:
            notes.append(
                f"No Slack account is on file for {', '.join(unmapped)}: add them to the tenant's "
                "`actions.slack_users` setting (or set a `default_channel`) and ask again."
            )
        return plans
    requester = ((ctx.run.reply_to or {}).get("slack") or {}).get("user")
    if requester and (_ME.search(query) or not policy.default_channel):
        return [Planned(ActionKind.SLACK_NOTIFY, {"channel": requester, "text": header + body})]
    if policy.default_channel:
        return [Planned(ActionKind.SLACK_NOTIFY, {"channel": policy.default_channel, "text": header + body})]
    notes.append("Tell me where to send it: a `#channel`, or configure a `default_channel` for the tenant.")
    return []


def _plan_crm(query: str, notes: list[str]) -> list[Planned]:
    record = _CRM_RECORD.search(query)
    if not record:
        notes.append("To update the CRM I need the Salesforce record id (15 or 18 characters) of the opportunity or contact.")
        return []
    obj = "Contact" if record.group(1).lower() == "contact" else "Opportunity"
    fields = CRM_FIELDS[obj]
    field = next((api for words, api in sorted(fields.items(), key=lambda kv: -len(kv[0])) if re.search(rf"\b{words}\b", query, re.I)), None)
    value = _CRM_VALUE.search(query[record.end():]) or _CRM_VALUE.search(query)
    if field is None or value is None:
        notes.append(f"Say which field and value, e.g. “set the stage of opportunity {record.group(2)} to Negotiation/Review”. Fields: {', '.join(fields)}.")
        return []
    return [Planned(ActionKind.CRM_UPDATE, {"object": obj, "record_id": record.group(2), "fields": {field: value.group(1).strip()}})]


def _plan_insight(query: str, prior: str, notes: list[str]) -> list[Planned]:
    health = _HEALTH_LINE.search(prior)
    explicit = _SCORE.search(query)
    if explicit:
        score = float(explicit.group(1))
    elif health:
        score = int(health.group(1)) / 100
    else:
        notes.append("An insight needs a score between 0 and 1: say “score 0.7”, or ask about a deal so its health score can be used.")
        return []
    is_risk = bool(re.search(r"\brisk", query, re.I)) or bool(health and health.group(2).strip().lower() in ("at risk", "critical", "lost"))
    title = re.sub(r"^\s*(please\s+)?(log|record|write|save|store|add)\s+(an?\s+)?insights?\s*(that|:)?\s*", "", query, flags=re.I).strip() or query
    return [
        Planned(
            ActionKind.WAREHOUSE_WRITE,
            {
                "category": "deal" if health else "general",
                "type": "risk" if is_risk else "observation",
                "title": title[:200],
                "description": markdown_to_plain(prior)[:4000] or query[:4000],
                "score": round(min(1.0, max(0.0, score)), 3),
                "source_agent": "deal_analysis" if health else AGENT,
            },
        )
    ]


def _plan_webhook(ctx: RunContext, query: str, prior: str, notes: list[str]) -> list[Planned]:
    endpoints = list(WebhookEndpoint.objects.filter(enabled=True).order_by("pk"))
    named = [e for e in endpoints if e.description and e.description.lower() in query.lower()]
    chosen = named[:1] or (endpoints if len(endpoints) == 1 else [])
    if not chosen:
        names = ", ".join(f"“{e.description or e.url}”" for e in endpoints) or "none registered"
        notes.append(f"Which webhook? Name one of the registered endpoints ({names}).")
        return []
    data = {"run": str(ctx.run.tracking_id), "query": ctx.run.query, "summary_markdown": prior[:20000]}
    return [Planned(ActionKind.WEBHOOK, {"endpoint_id": chosen[0].pk, "event_type": "revops.summary", "data": data})]


def plan(ctx: RunContext, query: str, *, prior_markdown: str) -> tuple[list[Planned], list[str]]:
    """The actions an instruction asks for, and notes on what could not be planned (shown to the
    user). Pure planning: nothing is recorded or sent."""
    notes: list[str] = []
    plans: list[Planned] = []
    prior = prior_markdown.strip()
    body = prior or query
    if _CRM_VERB.search(query) and (_CRM_RECORD.search(query) or re.search(r"\b(crm|salesforce)\b", query, re.I)):
        plans += _plan_crm(query, notes)
    if _INSIGHT.search(query):
        plans += _plan_insight(query, prior, notes)
    if _WEBHOOK.search(query):
        plans += _plan_webhook(ctx, query, prior, notes)
    if _CHANNEL.search(query) or (_NOTIFY.search(query) and not plans and not notes):
        plans += _plan_slack(ctx, query, body, notes)
    if not plans and not notes:
        notes.append("I could not tell which action you want: notify (a #channel, the owner, me), update a CRM record, log an insight, or call a webhook.")
    return plans, notes


# kind -> what the user reads, and how an owner or admin adds the connector it needs.
_KIND_LABEL = {
    ActionKind.CRM_UPDATE: "CRM update",
    ActionKind.SLACK_NOTIFY: "Slack notification",
    ActionKind.WAREHOUSE_WRITE: "insight",
    ActionKind.WEBHOOK: "webhook",
}
_HOW_TO_ADD = {
    ActionKind.CRM_UPDATE: (
        "an owner or admin of the tenant can add it in the admin (Connector credentials → Add → Salesforce) or with "
        "`manage.py connector_set --tenant {slug} --kind salesforce --config-json '{{\"instance_url\": \"https://…\"}}' "
        "--secret access_token=@token.txt`"
    ),
    ActionKind.SLACK_NOTIFY: (
        "an owner or admin of the tenant can add it in the admin (Connector credentials → Add → Slack app) or with "
        "`manage.py connector_set --tenant {slug} --kind slack --secret signing_secret=@signing.txt --secret bot_token=@token.txt`"
    ),
    ActionKind.WAREHOUSE_WRITE: "an operator can create the table and its writer with `manage.py insights_setup --tenant {slug}`",
}


def _connector_note(ctx: RunContext, kind: str, reason: str) -> str:
    """The user-facing note for an action not proposed for want of a connector."""
    how = _HOW_TO_ADD.get(kind, "").format(slug=ctx.run.tenant.slug)
    label = _KIND_LABEL.get(kind, kind)
    if how:
        reason = reason.split("; ", 1)[0]  # its generic "add ... first" gives way to the exact steps
        return f"No {label} was proposed: {reason}. To fix it, {how}; then ask again."
    return f"No {label} was proposed: {reason}."


def _key(ctx: RunContext, planned: Planned) -> str:
    canonical = json.dumps(planned.payload, sort_keys=True, default=str)
    return "run:" + hashlib.sha256(f"{ctx.run.tracking_id}:{planned.kind}:{canonical}".encode()).hexdigest()[:48]


def _action_context(action: Action, *, in_slack: bool) -> dict:
    """What the layout ``answers/actions.md`` shows of one recorded action: id, kind, target, its
    state (``proposed`` awaiting approval, ``done``, ``pending`` queued or running without
    approval, else ``other`` with the status and last error), and for a proposed action the first
    25 lines of its preview."""
    if action.status == ActionStatus.PROPOSED:
        state = "proposed"
    elif action.status == ActionStatus.SUCCEEDED:
        state = "done"
    elif action.status in (ActionStatus.QUEUED, ActionStatus.RUNNING):
        state = "pending"
    else:
        state = "other"
    return {
        "id": action.pk,
        "kind": action.get_kind_display(),
        "target": action.target,
        "state": state,
        "status": action.status,
        "error": action.last_error or "",
        "in_slack": in_slack,
        "preview": action.preview.splitlines()[:25] if state == "proposed" else [],
    }


def answer(ctx: RunContext, query: str, *, prior_markdown: str) -> SpecialistAnswer:
    """Record the actions ``query`` asks for (``prior_markdown``: what earlier specialists found,
    used as the message body / insight description) and report them with their ids.

    Returns a ``### Actions`` section; ``entities["action_ids"]`` lists the ids. Each action is
    a ``tool_call`` step ``action_propose``. Invalid payloads are reported, not raised.
    """
    plans, notes = plan(ctx, query, prior_markdown=prior_markdown)
    in_slack = bool((ctx.run.reply_to or {}).get("slack")) or bool(action_policy_get(tenant=ctx.run.tenant).approval_channel)
    recorded: list[dict] = []
    ids: list[int] = []
    missing: dict[str, str] = {}  # kind -> reason ("" when the connector is there), checked once per kind
    for planned in plans:
        if planned.kind not in missing:
            missing[planned.kind] = action_connector_missing(tenant=ctx.run.tenant, kind=planned.kind)
            if missing[planned.kind]:
                ctx.record(
                    agent=AGENT, kind=StepKind.TOOL_CALL, name="action_propose",
                    input={"kind": planned.kind}, error=f"connector missing: {missing[planned.kind]}",
                )
                notes.append(_connector_note(ctx, planned.kind, missing[planned.kind]))
        if missing[planned.kind]:
            continue
        try:
            proposal = action_create(
                tenant=ctx.run.tenant,
                kind=planned.kind,
                payload=planned.payload,
                idempotency_key=_key(ctx, planned),
                run=ctx.run,
                requested_by=ctx.run.created_by,
                requested_via="agent",
            )
        except ActionInvalid as exc:
            ctx.record(agent=AGENT, kind=StepKind.TOOL_CALL, name="action_propose", input={"kind": planned.kind}, error=str(exc))
            notes.append(f"A {planned.kind} action was not recorded: {exc}")
            continue
        action = Action.objects.get(pk=proposal.action.pk)  # status after a possible immediate run
        ids.append(action.pk)
        ctx.record(
            agent=AGENT,
            kind=StepKind.TOOL_CALL,
            name="action_propose",
            input={"kind": planned.kind, "target": action.target, "idempotency_key": action.idempotency_key},
            output_summary=f"action {action.pk} {action.status}",
            output={"action_id": action.pk, "status": action.status},
        )
        recorded.append(_action_context(action, in_slack=in_slack))
    previews = [a for a in recorded if a["state"] == "proposed"]
    markdown = render_answer("actions", {"actions": recorded, "previews": previews, "notes": notes})
    return SpecialistAnswer(AGENT, markdown, {"action_ids": ids})
