"""Slack writes: turn a verified Events API payload into a queued run, and post replies in its thread.

Inbound (``slack_event_handle``) runs in the HTTP request and must stay fast (Slack retries when
it has no 2xx within 3 s): it only filters, dedupes and records a queued run. Outbound
(``slack_post_ack``/``slack_post_answer``) runs on the worker and never raises into it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from slack_sdk.errors import SlackApiError, SlackClientError

from agents.models import Run, RunStatus
from agents.services import run_create
from integrations.models import SlackEvent
from integrations.slack.client import slack_client
from integrations.slack.mrkdwn import markdown_to_mrkdwn, split_message
from integrations.slack.selectors import SlackApp, slack_app_get
from tenants.models import Membership, Tenant

logger = logging.getLogger(__name__)

_MENTION_RE = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
_LEADING_MENTION_RE = re.compile(r"^\s*<@[A-Z0-9]+(?:\|[^>]*)?>")

EMPTY_ANSWER = "I could not produce an answer to this question."
FAILED_ANSWER = "Sorry, this question could not be answered."


@dataclass(frozen=True)
class SlackQuestion:
    """A question taken from an ``app_mention`` or a direct message (typed boundary, DESIGN.md §5).

    ``thread_ts`` is the thread to answer in: the event's ``thread_ts`` when the user wrote in a
    thread, else the message's own ``ts`` (which starts a thread under it).
    """

    event_id: str
    event_type: str
    team_id: str
    channel: str
    user: str
    ts: str
    thread_ts: str
    text: str

    @property
    def thread_key(self) -> str:
        return f"{self.channel}:{self.thread_ts}"


def _bot_user_ids(payload: dict, app: SlackApp) -> set[str]:
    ids = {app.bot_user_id} if app.bot_user_id else set()
    for auth in payload.get("authorizations") or []:
        if isinstance(auth, dict) and auth.get("is_bot") and auth.get("user_id"):
            ids.add(str(auth["user_id"]))
    return ids


def slack_question_parse(*, payload: dict, app: SlackApp) -> SlackQuestion | str:
    """The question in an ``event_callback`` payload, or the reason it is ignored (``"ignored: …"``).

    Kept: ``app_mention`` events, and ``message`` events with ``channel_type == "im"`` and no
    ``subtype`` (direct messages). Ignored: anything a bot wrote (``bot_id``, subtype
    ``bot_message``, or our own bot user), ``message`` events in channels (Slack sends them next
    to the ``app_mention`` for the same message), edits/joins (any ``subtype``), and questions
    that are empty once the mentions of our bot are removed.
    """
    if payload.get("type") != "event_callback":
        return f"ignored: payload type {str(payload.get('type'))[:40]}"
    if app.team_id and payload.get("team_id") and payload.get("team_id") != app.team_id:
        return "ignored: other team"
    event = payload.get("event")
    event_id = payload.get("event_id")
    if not isinstance(event, dict) or not isinstance(event_id, str) or not event_id or len(event_id) > 64:
        return "ignored: no event"
    event_type = str(event.get("type") or "")
    bots = _bot_user_ids(payload, app)
    if event.get("bot_id") or event.get("subtype") == "bot_message" or str(event.get("user") or "") in bots:
        return "ignored: bot message"
    # Slack Connect: a user of another organisation in a shared channel has another user_team;
    # they must not query this tenant's data.
    if app.team_id and event.get("user_team") and event.get("user_team") != app.team_id:
        return "ignored: user from another workspace"
    if event_type == "message":
        if event.get("channel_type") != "im":
            return "ignored: channel message"
        if event.get("subtype"):
            return f"ignored: message subtype {str(event['subtype'])[:40]}"
    elif event_type != "app_mention":
        return f"ignored: event type {event_type[:40]}"
    user, channel, ts = event.get("user"), event.get("channel"), event.get("ts")
    if not (isinstance(user, str) and user and isinstance(channel, str) and channel and isinstance(ts, str) and ts):
        return "ignored: incomplete event"
    text = str(event.get("text") or "")
    if event_type == "app_mention" and not bots:
        text = _LEADING_MENTION_RE.sub("", text, count=1)  # bot id unknown: the mention leads the text
    text = _MENTION_RE.sub(lambda m: "" if m.group(1) in bots else m.group(0), text)
    text = re.sub(r"[ \t]{2,}", " ", text).strip()
    if not text:
        return "ignored: empty"
    return SlackQuestion(
        event_id=event_id,
        event_type=event_type,
        team_id=str(payload.get("team_id") or ""),
        channel=channel,
        user=user,
        ts=ts,
        thread_ts=str(event.get("thread_ts") or ts),
        text=text,
    )


def slack_event_handle(*, tenant: Tenant, payload: dict) -> str:
    """Act on one verified ``event_callback`` payload for ``tenant`` (which must be in context).

    Returns what happened: ``"queued"`` (a run was recorded and is enqueued on commit),
    ``"duplicate"`` (this ``event_id`` was already handled: a Slack retry or a double delivery),
    or ``"ignored: <reason>"`` (see :func:`slack_question_parse`; also ``"ignored: not
    configured"`` and ``"ignored: <run_create error>"``, e.g. a question over 4,000 chars).

    The dedupe row (``SlackEvent``) and the run are written in one transaction: the unique
    ``(tenant, event_id)`` constraint makes a concurrent retry see ``"duplicate"``, and a failure
    leaves no dedupe row behind, so Slack's next retry can still succeed. The run's
    ``created_by`` is the member whose ``Membership.slack_user_id`` is the asker, if any; with
    ``tenant.settings["slack"]["members_only"]`` an asker without a Membership is ignored.
    """
    app = slack_app_get()
    if app is None:
        return "ignored: not configured"
    question = slack_question_parse(payload=payload, app=app)
    if isinstance(question, str):
        return question
    member = (
        Membership.objects.filter(tenant=tenant, slack_user_id=question.user).select_related("user").first()
    )
    if member is None and ((tenant.settings or {}).get("slack") or {}).get("members_only"):
        # Tenant option: only people with a Membership (Slack user id recorded) may ask.
        return "ignored: asker is not a member"
    try:
        with transaction.atomic():
            _, created = SlackEvent.objects.get_or_create(
                tenant=tenant, event_id=question.event_id, defaults={"event_type": question.event_type}
            )
            if not created:
                return "duplicate"
            run_create(
                tenant=tenant,
                channel="slack",
                query=question.text,
                thread_key=question.thread_key,
                source_system="slack",
                reply_to={
                    "slack": {
                        "channel": question.channel,
                        "thread_ts": question.thread_ts,
                        "event_id": question.event_id,
                        "user": question.user,
                    }
                },
                created_by=member.user if member else None,
            )
    except ValueError as exc:  # run_create refuses empty/oversized questions
        return f"ignored: {exc}"
    return "queued"


def slack_events_purge(*, older_than: timedelta = timedelta(days=2)) -> int:
    """Delete dedupe rows older than ``older_than`` (all tenants); returns how many were deleted.

    Slack stops retrying an event about an hour after the first attempt, so two days keeps a
    wide margin. Meant for a daily schedule.
    """
    cutoff = timezone.now() - older_than
    deleted, _ = SlackEvent.objects.unscoped().filter(received_at__lt=cutoff).delete()  # all tenants: maintenance
    return deleted


# --- outbound -----------------------------------------------------------------------------------


def _post(*, run: Run, app: SlackApp, text: str) -> str | None:
    """``chat.postMessage`` in the run's thread; the message ``ts``, or None (logged) on failure."""
    target = run.reply_to.get("slack") or {}
    channel, thread_ts = target.get("channel"), target.get("thread_ts")
    if not channel or not thread_ts:
        logger.warning("run %s: no Slack channel/thread to reply to", run.tracking_id)
        return None
    try:
        response = slack_client(token=app.bot_token).chat_postMessage(
            channel=channel, thread_ts=thread_ts, text=text, unfurl_links=False, unfurl_media=False
        )
    except SlackApiError as exc:
        # Only Slack's error code: the response object carries request details we do not log.
        logger.warning("run %s: Slack chat.postMessage failed: %s", run.tracking_id, exc.response.get("error"))
    except (SlackClientError, OSError) as exc:
        logger.warning("run %s: Slack unreachable: %s", run.tracking_id, type(exc).__name__)
    except Exception as exc:  # the worker must never die on a reply
        logger.error("run %s: posting to Slack failed: %s", run.tracking_id, type(exc).__name__)
    else:
        return response.get("ts")
    return None


def _app_for_posting(run: Run) -> SlackApp | None:
    app = slack_app_get()
    if app is None or not app.bot_token:
        logger.warning("run %s: tenant has no Slack bot token; reply not posted", run.tracking_id)
        return None
    return app


def slack_post_ack(*, run: Run) -> bool:
    """Post "Working on it… (run <tracking id>)" in the run's Slack thread when the run starts.

    Called by the worker inside ``tenant_context(run.tenant)``. Returns whether Slack accepted
    it; errors are logged (never the token) and never raised.
    """
    app = _app_for_posting(run)
    if app is None:
        return False
    return _post(run=run, app=app, text=f"Working on it… (run {run.tracking_id})") is not None


def slack_post_answer(*, run: Run) -> int:
    """Post the run's answer in its Slack thread, split into messages of <= ``SLACK_MESSAGE_CHARS``.

    ``run.answer_markdown`` is converted to mrkdwn and split on paragraph/line boundaries; the
    pieces are posted in order, stopping at the first one Slack refuses (a later piece alone
    would read out of context). A failed run posts its failure message (never ``run.error``,
    which may hold internals) followed by the run id. Called by the worker inside
    ``tenant_context(run.tenant)``. Returns the number of messages posted; never raises.
    """
    app = _app_for_posting(run)
    if app is None:
        return 0
    if run.status == RunStatus.FAILED:
        text = f"{markdown_to_mrkdwn(run.answer_markdown or FAILED_ANSWER)}\n\n_Run {run.tracking_id} failed._"
    else:
        text = markdown_to_mrkdwn(run.answer_markdown).strip() or f"{EMPTY_ANSWER} (run {run.tracking_id})"
    posted = 0
    for piece in split_message(text, limit=settings.SLACK_MESSAGE_CHARS):
        if _post(run=run, app=app, text=piece) is None:
            break
        posted += 1
    return posted
