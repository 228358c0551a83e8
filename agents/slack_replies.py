"""Replies to Slack questions in the run's thread: acknowledgement, progress, answer.

Called by the run's worker (:mod:`agents.services`) inside ``tenant_context(run.tenant)``; never
raises into it: the acknowledgement is posted once per run, updated in place as specialists
finish and then replaced by the answer in Block Kit (layouts: :mod:`integrations.slack.blocks`;
Web API calls through :func:`integrations.slack.client.slack_client`).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.urls import reverse
from slack_sdk.errors import SlackApiError, SlackClientError

from agents.models import Run, RunStatus
from integrations.slack.blocks import SlackMessage, answer_messages, answered_below_message, progress_message
from integrations.health import connector_record_for_kind
from integrations.models import ConnectorKind
from integrations.slack.client import slack_client
from integrations.slack.selectors import SlackApp, slack_app_get

logger = logging.getLogger(__name__)

EMPTY_ANSWER = "I could not produce an answer to this question."
FAILED_ANSWER = "Sorry, this question could not be answered."


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
        connector_record_for_kind(kind=ConnectorKind.SLACK, ok=False, error=f"Slack {method} failed: {exc.response.get('error')}")
    except (SlackClientError, OSError) as exc:
        logger.warning("run %s: Slack unreachable: %s", run.tracking_id, type(exc).__name__)
        connector_record_for_kind(kind=ConnectorKind.SLACK, ok=False, error=f"Slack unreachable: {type(exc).__name__}")
    except Exception as exc:  # the worker must never die on a reply
        logger.error("run %s: Slack %s failed: %s", run.tracking_id, method, type(exc).__name__)
    else:
        connector_record_for_kind(kind=ConnectorKind.SLACK, ok=True)
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
