"""Approval prompts in Slack: a Block Kit message with Approve / Reject buttons, posted in the
thread of the run that proposed the action (or in the policy's ``approval_channel``), updated
once the action is decided or finished.

Clicks come back to ``actions.slack_interactivity`` (signature verified, approver role
checked there). Outbound calls go through ``integrations.slack.client.slack_client``; failures
are logged and never raised (approval through the API stays available).
"""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError, SlackClientError

from actions.models import Action, ActionStatus
from actions.selectors import action_policy_get
from integrations.slack.client import slack_client
from integrations.slack.mrkdwn import markdown_to_mrkdwn
from integrations.slack.selectors import slack_app_get

logger = logging.getLogger(__name__)

APPROVE_ACTION_ID = "revops_action_approve"
REJECT_ACTION_ID = "revops_action_reject"
PREVIEW_CHARS = 2500


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _summary(action: Action) -> str:
    preview = markdown_to_mrkdwn(action.preview or "")
    if len(preview) > PREVIEW_CHARS:
        preview = preview[:PREVIEW_CHARS].rstrip() + "\n…"
    return f"*Action {action.pk}* · {_escape(action.get_kind_display())} → {_escape(action.target)}\n{preview}"


def approval_blocks(action: Action) -> list[dict]:
    """Block Kit for a proposed action: the preview and Approve (with a confirmation) / Reject
    buttons whose ``value`` is the action id."""
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": ":raised_hand: *Approval needed*\n" + _summary(action)}},
        {
            "type": "actions",
            "block_id": f"revops_action_{action.pk}",
            "elements": [
                {
                    "type": "button",
                    "action_id": APPROVE_ACTION_ID,
                    "text": {"type": "plain_text", "text": "Approve"},
                    "style": "primary",
                    "value": str(action.pk),
                    "confirm": {
                        "title": {"type": "plain_text", "text": "Run this action?"},
                        "text": {"type": "mrkdwn", "text": f"{_escape(action.get_kind_display())} → {_escape(action.target)}"},
                        "confirm": {"type": "plain_text", "text": "Approve"},
                        "deny": {"type": "plain_text", "text": "Cancel"},
                    },
                },
                {
                    "type": "button",
                    "action_id": REJECT_ACTION_ID,
                    "text": {"type": "plain_text", "text": "Reject"},
                    "style": "danger",
                    "value": str(action.pk),
                },
            ],
        },
    ]


def _outcome_line(action: Action) -> str:
    who = action.approved_via or ""
    if who.startswith("slack:"):
        who = f"<@{who.split(':', 1)[1]}>"
    status = action.status
    if status == ActionStatus.REJECTED:
        rejecter = next((e.actor_label for e in action.events.all() if e.to_status == ActionStatus.REJECTED), "")
        if rejecter.startswith("slack:"):
            rejecter = f"<@{rejecter.split(':', 1)[1]}>"
        return f":no_entry_sign: Rejected{f' by {rejecter}' if rejecter else ''}."
    lines = {
        ActionStatus.APPROVED: f":white_check_mark: Approved by {who}.",
        ActionStatus.QUEUED: f":white_check_mark: Approved by {who}; queued.",
        ActionStatus.RUNNING: f":white_check_mark: Approved by {who}; running.",
        ActionStatus.SUCCEEDED: f":white_check_mark: Approved by {who}; done.",
        ActionStatus.FAILED: f":x: Approved by {who}; failed: {_escape(action.last_error[:300])}",
        ActionStatus.DEAD: f":x: Approved by {who}; gave up after {action.attempts} attempts: {_escape(action.last_error[:300])}",
    }
    return lines.get(status, f"Status: {status}")


def _destination(action: Action) -> tuple[str, str] | None:
    slack = (action.run.reply_to or {}).get("slack") if action.run_id and action.run else None
    if slack and slack.get("channel") and slack.get("thread_ts"):
        return slack["channel"], slack["thread_ts"]
    channel = action_policy_get(tenant=action.tenant).approval_channel
    return (channel, "") if channel else None


def approval_prompt_post(*, action: Action) -> bool:
    """Post the prompt of a ``proposed`` action and remember its ``channel``/``ts`` in
    ``action.approval_message``. Returns whether a prompt was posted (False: no Slack bot, no
    destination, already posted, not proposed any more, or Slack refused; logged)."""
    if action.status != ActionStatus.PROPOSED or action.approval_message:
        return False
    destination = _destination(action)
    app = slack_app_get()
    if destination is None or app is None or not app.bot_token:
        return False
    channel, thread_ts = destination
    kwargs = {"channel": channel, "text": f"Approval needed: action {action.pk}", "blocks": approval_blocks(action)}
    if thread_ts:
        kwargs["thread_ts"] = thread_ts
    try:
        response = slack_client(token=app.bot_token).chat_postMessage(**kwargs)
    except SlackApiError as exc:
        logger.warning("action %s: approval prompt refused by Slack: %s", action.pk, exc.response.get("error"))
        return False
    except (SlackClientError, OSError) as exc:
        logger.warning("action %s: Slack unreachable for the approval prompt: %s", action.pk, type(exc).__name__)
        return False
    Action.objects.filter(pk=action.pk).update(approval_message={"channel": response.get("channel") or channel, "ts": response.get("ts")})
    return True


def approval_prompt_refresh(*, action: Action) -> bool:
    """Replace the prompt's buttons by the action's current outcome (``chat.update``)."""
    message = action.approval_message or {}
    app = slack_app_get()
    if not message.get("channel") or not message.get("ts") or app is None or not app.bot_token:
        return False
    line = _outcome_line(action)
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _summary(action)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": line}]},
    ]
    try:
        slack_client(token=app.bot_token).chat_update(channel=message["channel"], ts=message["ts"], text=f"Action {action.pk}: {action.status}", blocks=blocks)
    except SlackApiError as exc:
        logger.warning("action %s: prompt update refused by Slack: %s", action.pk, exc.response.get("error"))
        return False
    except (SlackClientError, OSError) as exc:
        logger.warning("action %s: Slack unreachable for the prompt update: %s", action.pk, type(exc).__name__)
        return False
    return True


def slack_ephemeral_post(*, channel: str, user: str, text: str, thread_ts: str = "") -> bool:
    """``chat.postEphemeral`` (only ``user`` sees it); errors logged, never raised."""
    app = slack_app_get()
    if app is None or not app.bot_token or not channel or not user:
        return False
    kwargs = {"channel": channel, "user": user, "text": text}
    if thread_ts:
        kwargs["thread_ts"] = thread_ts
    try:
        slack_client(token=app.bot_token).chat_postEphemeral(**kwargs)
    except (SlackApiError, SlackClientError, OSError) as exc:
        logger.warning("ephemeral Slack message failed: %s", type(exc).__name__)
        return False
    return True
