"""Slack questions in, runs out: the events side of the tenant's Slack app (DESIGN.md §2).

Inbound is split in two. :func:`slack_event_handle` runs in the HTTP request
(:func:`agents.views.slack_events`) and must stay fast (Slack retries when it has no 2xx within
3 s): it filters in memory (bots, other workspaces, event types, empty or oversized questions),
inserts the dedupe row and enqueues the question, in one transaction.
:func:`slack_question_process` (django-q2 task, dotted path
``agents.slack_events.slack_question_process``) runs on the worker: membership checks and the
run (:func:`slack_question_run_create`), which the same task then executes (acknowledgement
first; replies in :mod:`agents.slack_replies`). :func:`slack_feedback_record` stores the
answer's 👍/👎 clicks (called by :mod:`actions.slack_interactivity`).

Lives in ``agents`` because it creates and reads runs: ``integrations.slack`` keeps the client,
the request verification, the payload models and the message layouts.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import asdict, dataclass

from django.db import transaction
from django.utils import timezone

from agents.models import Run
from agents.services import MAX_QUERY_CHARS, run_create
from agents.tasks import execute_run
from integrations.services import slack_event_claim
from integrations.slack.selectors import SlackApp
from revops.lib.queue import task_enqueue
from revops.lib.text import strip_db_unsafe
from tenants.context import tenant_context
from tenants.models import Membership, Tenant
from tenants.settings_schema import tenant_settings_section_lenient

logger = logging.getLogger(__name__)

_MENTION_RE = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
_LEADING_MENTION_RE = re.compile(r"^\s*<@[A-Z0-9]+(?:\|[^>]*)?>")


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

    ``app``: the tenant's Slack app (from :mod:`integrations.slack.verification`). Returns what
    happened: ``"queued"`` (the dedupe row was inserted and the question enqueued for
    :func:`slack_question_process`), ``"duplicate"`` (this ``event_id`` was
    already accepted: a Slack retry or a double delivery), or ``"ignored: <reason>"`` (see
    :func:`slack_question_parse`; nothing written).

    Database work: one ``INSERT … ON CONFLICT DO NOTHING`` of the ``SlackEvent`` row
    (:func:`integrations.services.slack_event_claim`), whose unique ``(tenant, event_id)`` constraint is the dedupe (a concurrent retry sees ``"duplicate"``), and
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
        if not slack_event_claim(tenant_id=tenant_id, event_id=question.event_id, event_type=question.event_type):
            return "duplicate"
        task_enqueue(
            "agents.slack_events.slack_question_process",
            tenant_id,
            asdict(question),
            task_name=f"slack-{tenant_id}-{question.event_id}",
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


def slack_question_process(tenant_id: int, question: dict) -> str:
    """django-q2 task: answer one accepted Slack question of tenant ``tenant_id`` on the worker.

    Everything that need not happen before Slack's 200: loads the tenant, checks membership,
    records the run and executes it in the same task (no second trip through the queue), which
    posts the "Working on it…" acknowledgement first and the answer last.
    ``question``: the fields of :class:`SlackQuestion` (as enqueued by
    :func:`slack_question_accept`). Returns the run's final status, ``"skipped: …"`` when another
    worker claimed the run, or ``"ignored: <reason>"`` (tenant gone, asker not a member under
    ``members_only``, question refused by ``run_create``). Never raises for those.
    """
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return "ignored: no such tenant"
    parsed = SlackQuestion(**question)
    with tenant_context(tenant):
        run = slack_question_run_create(tenant=tenant, question=parsed)
    if isinstance(run, str):
        logger.info("slack event %s for tenant %s: %s", parsed.event_id[:64], tenant.slug, run)
        return run
    return execute_run(run.pk)


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
