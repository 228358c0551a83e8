"""Slack writes: turn a verified Events API payload into a queued run, and post replies in its thread.

Inbound is split in two. ``slack_event_handle`` runs in the HTTP request and must stay fast (Slack
retries when it has no 2xx within 3 s): it filters in memory (bots, other workspaces, event types,
empty or oversized questions), inserts the dedupe row and enqueues the question, in one
transaction. ``slack_question_run_create`` runs on the worker (``integrations.slack.tasks``):
membership checks and the run, which the same task then executes (acknowledgement first). Outbound
(``slack_post_ack``/``slack_post_progress``/``slack_post_answer``) runs on the worker and never
raises into it: the acknowledgement is updated in place as specialists finish and then replaced
by the answer in Block Kit. ``slack_feedback_record`` stores the answer's 👍/👎 clicks.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import asdict, dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django_q.tasks import async_task
from slack_sdk.errors import SlackApiError, SlackClientError

from agents.models import Run, RunStatus
from agents.services import MAX_QUERY_CHARS, run_create
from integrations.models import SlackEvent
from integrations.slack.client import slack_client
from integrations.slack.blocks import SlackMessage, answer_messages, answered_below_message, progress_message
from integrations.slack.selectors import SlackApp, slack_app_get
from revops.lib.text import strip_db_unsafe
from tenants.models import Membership, Tenant
from tenants.settings_schema import tenant_settings_section_lenient

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
    auths = payload.get("authorizations")
    for auth in auths if isinstance(auths, list) else []:
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
    text = event.get("text")
    text = strip_db_unsafe(text) if isinstance(text, str) else ""  # PostgreSQL refuses NUL
    if event_type == "app_mention" and not bots:
        text = _LEADING_MENTION_RE.sub("", text, count=1)  # bot id unknown: the mention leads the text
    text = _MENTION_RE.sub(lambda m: "" if m.group(1) in bots else m.group(0), text)
    text = re.sub(r"[ \t]{2,}", " ", text).strip()
    if not text:
        return "ignored: empty"
    if len(text) > MAX_QUERY_CHARS:
        return f"ignored: query is longer than {MAX_QUERY_CHARS} characters"
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


def slack_event_handle(*, tenant_id: int, payload: dict, app: SlackApp) -> str:
    """Accept one verified ``event_callback`` payload for the tenant ``tenant_id`` (the HTTP part).

    ``app``: the tenant's Slack app (from ``integrations.slack.verification``). Returns what
    happened: ``"queued"`` (the dedupe row was inserted and the question enqueued for
    ``integrations.slack.tasks.slack_question_process``), ``"duplicate"`` (this ``event_id`` was
    already accepted: a Slack retry or a double delivery), or ``"ignored: <reason>"`` (see
    :func:`slack_question_parse`; nothing written).

    Database work: one ``INSERT`` of the ``SlackEvent`` row (in a savepoint), whose unique
    ``(tenant, event_id)`` constraint is the dedupe (a concurrent retry sees ``"duplicate"``), and
    the enqueue, in one transaction: with the ORM broker the queue row commits with the dedupe
    row or not at all; with Redis a failed push rolls the dedupe row back, so Slack's retry can
    still succeed. Membership checks and the run are the worker's.
    """
    question = slack_question_parse(payload=payload, app=app)
    if isinstance(question, str):
        return question
    return slack_question_accept(tenant_id=tenant_id, question=question)


def slack_question_accept(*, tenant_id: int, question: SlackQuestion) -> str:
    """Insert the dedupe row for ``question`` and enqueue it, atomically; ``"queued"`` or ``"duplicate"``.

    Raises whatever the broker raises when the enqueue fails (nothing is kept; the caller's 500
    makes Slack retry).
    """
    with transaction.atomic():
        try:
            # A savepoint around the one INSERT: the unique (tenant, event_id) constraint refusing
            # it is the dedupe, and the outer transaction stays usable for the caller.
            with transaction.atomic():
                SlackEvent(tenant_id=tenant_id, event_id=question.event_id, event_type=question.event_type[:64]).save(force_insert=True)
        except IntegrityError as exc:
            if getattr(exc.__cause__, "sqlstate", None) != "23505":  # unique_violation only
                raise
            return "duplicate"
        async_task(
            "integrations.slack.tasks.slack_question_process",
            tenant_id,
            asdict(question),
            task_name=f"slack-{tenant_id}-{question.event_id}"[:100],
        )
    return "queued"


def slack_question_run_create(*, tenant: Tenant, question: SlackQuestion) -> Run | str:
    """On the worker: record the run for an accepted ``question`` of ``tenant`` (in context), not enqueued.

    Returns the queued run (the caller executes it at once), or ``"ignored: <reason>"``: with
    ``tenant.settings["slack"]["members_only"]`` (read leniently: a bad stored value is logged and
    the default, off, applies) an asker without a Membership
    (``Membership.slack_user_id``) is ignored; a question ``run_create`` refuses is ignored with its
    reason. The run's ``created_by`` is the member whose ``slack_user_id`` is the asker, if any.
    If the worker dies before executing it, the reaper sends the queued run again.
    """
    member = (
        Membership.objects.filter(tenant=tenant, slack_user_id=question.user).select_related("user").first()
    )
    if member is None and tenant_settings_section_lenient(tenant, "slack").members_only:
        # Tenant option: only people with a Membership (Slack user id recorded) may ask.
        return "ignored: asker is not a member"
    try:
        return run_create(
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
            enqueue=False,
        )
    except ValueError as exc:  # run_create refuses empty/oversized questions
        return f"ignored: {exc}"


def slack_events_purge(*, older_than: timedelta = timedelta(days=2)) -> int:
    """Delete dedupe rows older than ``older_than`` (all tenants); returns how many were deleted.

    Slack stops retrying an event about an hour after the first attempt, so two days keeps a
    wide margin. Meant for a daily schedule.
    """
    cutoff = timezone.now() - older_than
    deleted, _ = SlackEvent.objects.unscoped().filter(received_at__lt=cutoff).delete()  # all tenants: maintenance
    return deleted


# --- outbound -----------------------------------------------------------------------------------


def _target(run: Run) -> tuple[str, str] | None:
    target = run.reply_to.get("slack") or {}
    channel, thread_ts = target.get("channel"), target.get("thread_ts")
    if not channel or not thread_ts:
        logger.warning("run %s: no Slack channel/thread to reply to", run.tracking_id)
        return None
    return str(channel), str(thread_ts)


def _call(run: Run, app: SlackApp, method: str, **kwargs) -> dict | None:
    """One Web API call (``chat_postMessage``/``chat_update``); the response data, or None (logged)."""
    try:
        response = getattr(slack_client(token=app.bot_token), method)(**kwargs)
    except SlackApiError as exc:
        # Only Slack's error code: the response object carries request details we do not log.
        logger.warning("run %s: Slack %s failed: %s", run.tracking_id, method, exc.response.get("error"))
    except (SlackClientError, OSError) as exc:
        logger.warning("run %s: Slack unreachable: %s", run.tracking_id, type(exc).__name__)
    except Exception as exc:  # the worker must never die on a reply
        logger.error("run %s: Slack %s failed: %s", run.tracking_id, method, type(exc).__name__)
    else:
        return response.data if isinstance(response.data, dict) else {}
    return None


def _post(*, run: Run, app: SlackApp, message: SlackMessage) -> str | None:
    """``chat.postMessage`` in the run's thread; the message ``ts``, or None (logged) on failure."""
    target = _target(run)
    if target is None:
        return None
    channel, thread_ts = target
    data = _call(
        run, app, "chat_postMessage", channel=channel, thread_ts=thread_ts, text=message.text,
        blocks=message.blocks or None, unfurl_links=False, unfurl_media=False,
    )
    return str(data.get("ts") or "") or None if data is not None else None


def _update(*, run: Run, app: SlackApp, ts: str, message: SlackMessage) -> bool:
    """``chat.update`` of our message ``ts`` in the run's channel; whether Slack accepted it."""
    target = _target(run)
    if target is None:
        return False
    return _call(run, app, "chat_update", channel=target[0], ts=ts, text=message.text, blocks=message.blocks) is not None


def _ack_ts(run: Run) -> str:
    return str((run.reply_to.get("slack") or {}).get("ack_ts") or "")


def _app_for_posting(run: Run) -> SlackApp | None:
    app = slack_app_get()
    if app is None or not app.bot_token:
        logger.warning("run %s: tenant has no Slack bot token; reply not posted", run.tracking_id)
        return None
    return app


def _run_url(run: Run) -> str:
    """The run's admin page on the first ``CSRF_TRUSTED_ORIGINS`` entry (the public admin origin), or ""."""
    origins = list(getattr(settings, "CSRF_TRUSTED_ORIGINS", []) or [])
    if not origins or run.pk is None:
        return ""
    return origins[0].rstrip("/") + reverse("admin:agents_run_change", args=[run.pk])


def slack_post_ack(*, run: Run) -> bool:
    """Post "Working on it… (run <tracking id>)" in the run's Slack thread, once per run.

    The message's ``ts`` is kept in ``run.reply_to["slack"]["ack_ts"]`` (saved on the row) so
    progress and the answer can update it in place. At most one acknowledgement per run across
    attempts (a retried run after a worker died, issue 13 finding 6): before posting, the run's row
    is marked ``reply_to["slack"]["ack_claimed"] = True`` with a conditional UPDATE that matches
    only while neither ``ack_ts`` nor ``ack_claimed`` is recorded; a later attempt finds the mark
    and reuses ``ack_ts`` (True) or, if the earlier worker died between the mark and Slack's
    answer, posts none (False: the answer is then posted as a new message). A post Slack refuses
    removes the mark, so the next attempt may try again. Called by the worker inside
    ``tenant_context(run.tenant)``. Returns whether an acknowledgement exists; errors are logged
    (never the token) and never raised.
    """
    stored = Run.objects.filter(pk=run.pk).values_list("reply_to", flat=True).first()
    if isinstance(stored, dict):
        run.reply_to = stored  # the row is the record across attempts, not this worker's copy
    target = run.reply_to.get("slack") or {}
    if target.get("ack_ts") or target.get("ack_claimed"):
        return bool(target.get("ack_ts"))
    app = _app_for_posting(run)
    if app is None:
        return False
    claimed_reply_to = {**run.reply_to, "slack": {**target, "ack_claimed": True}}
    claimed = (
        Run.objects.filter(pk=run.pk)
        .exclude(reply_to__slack__has_key="ack_ts")
        .exclude(reply_to__slack__has_key="ack_claimed")
        .update(reply_to=claimed_reply_to)
    )
    if not claimed:  # another attempt recorded it meanwhile
        return False
    run.reply_to = claimed_reply_to
    ref = str(run.tracking_id)
    ts = _post(run=run, app=app, message=SlackMessage(text=f"Working on it… (run {ref})", blocks=[]))
    slack_target = {k: v for k, v in target.items() if k != "ack_claimed"}
    if ts is not None:
        slack_target["ack_ts"] = ts
    run.reply_to = {**run.reply_to, "slack": slack_target}
    Run.objects.filter(pk=run.pk).update(reply_to=run.reply_to)
    return ts is not None


def slack_post_progress(*, run: Run, planned: list[str], done: list[str]) -> bool:
    """Update the acknowledgement in place (``chat.update``) with the specialists' progress.

    ``planned``: the specialists chosen, in order; ``done``: those finished. Does nothing (False)
    when no acknowledgement was posted. Never raises; returns whether Slack accepted the update.
    """
    ts = _ack_ts(run)
    if not ts:
        return False
    app = _app_for_posting(run)
    if app is None:
        return False
    return _update(run=run, app=app, ts=ts, message=progress_message(run_ref=str(run.tracking_id), planned=planned, done=done))


def run_answer_messages(*, run: Run) -> list[SlackMessage]:
    """The run's answer as Block Kit messages (:func:`integrations.slack.blocks.answer_messages`).

    Header: the question; a failed run shows its failure message (never ``run.error``, which may
    hold internals) and "failed" after the run id in the context line.
    """
    failed = run.status == RunStatus.FAILED
    if failed:
        markdown = run.answer_markdown or FAILED_ANSWER
    else:
        markdown = run.answer_markdown if (run.answer_markdown or "").strip() else EMPTY_ANSWER
    return answer_messages(
        title=run.query or "Answer",
        markdown=markdown,
        run_ref=str(run.tracking_id),
        run_url=_run_url(run),
        note="failed" if failed else "",
    )


def slack_post_answer(*, run: Run) -> int:
    """Deliver the run's answer in its Slack thread as Block Kit messages; returns how many.

    One message: it replaces the "Working on it…" acknowledgement (``chat.update``). Several
    (over 50 blocks or ``blocks.MESSAGE_CHARS`` characters): the acknowledgement says the answer
    follows and the messages are posted in order, stopping at the first one Slack refuses (a
    later piece alone would read out of context). Without an acknowledgement, or when the update
    is refused, the answer is posted as new messages. Called by the worker inside
    ``tenant_context(run.tenant)``; never raises.
    """
    app = _app_for_posting(run)
    if app is None:
        return 0
    messages = run_answer_messages(run=run)
    ack_ts = _ack_ts(run)
    if ack_ts and len(messages) == 1 and _update(run=run, app=app, ts=ack_ts, message=messages[0]):
        return 1
    if ack_ts and len(messages) > 1:
        _update(run=run, app=app, ts=ack_ts, message=answered_below_message(run_ref=str(run.tracking_id), count=len(messages)))
    posted = 0
    for message in messages:
        if _post(run=run, app=app, message=message) is None:
            break
        posted += 1
    return posted


# --- feedback ------------------------------------------------------------------------------------


def slack_feedback_record(*, tenant: Tenant, run_ref: str, slack_user: str, value: str) -> str:
    """Store a 👍/👎 click on the run ``run_ref`` (tracking id) of ``tenant`` (in context).

    ``run.feedback["slack:<user>"] = {"value": "up"|"down", "at": ISO 8601 UTC, "via": "slack"}``:
    one vote per person, the latest click wins; the same click again changes nothing. The run is
    looked up through the scoped manager, so another tenant's run is never found. With the
    tenant option ``settings["slack"]["members_only"]`` only members (``Membership.slack_user_id``)
    may vote. Returns ``"recorded"``, ``"unchanged"`` or ``"ignored: <why>"``.
    """
    if value not in ("up", "down"):
        return "ignored: bad feedback value"
    if not slack_user or len(slack_user) > 32:
        return "ignored: no user"
    try:
        tracking_id = uuid.UUID(str(run_ref))
    except ValueError:
        return "ignored: bad run id"
    if tenant_settings_section_lenient(tenant, "slack").members_only and not Membership.objects.filter(
        tenant=tenant, slack_user_id=slack_user
    ).exists():
        return "ignored: voter is not a member"
    key = f"slack:{slack_user}"
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(tracking_id=tracking_id).only("pk", "feedback", "tenant_id").first()
        if run is None:
            return "ignored: no such run"
        if (run.feedback or {}).get(key, {}).get("value") == value:
            return "unchanged"
        run.feedback = {**(run.feedback or {}), key: {"value": value, "at": timezone.now().isoformat(), "via": "slack"}}
        Run.objects.filter(pk=run.pk).update(feedback=run.feedback)
    return "recorded"
