"""Replies to Slack questions in the run's thread: acknowledgement, progress, answer.

Called by the run's worker (:mod:`agents.services`) inside ``tenant_context(run.tenant)``; never
raises into it: the acknowledgement is posted once per run, updated in place as specialists
finish and then replaced by the answer in Block Kit (layouts: :mod:`integrations.slack.blocks`;
Web API calls through :func:`integrations.slack.client.slack_client`). After the answer, its charts
(``Run.charts``) and an image of each wide table are uploaded into the thread
(``files_upload_v2``); an upload Slack refuses is logged and recorded on the run, and never
takes the text answer with it.
"""

from __future__ import annotations

import logging
from urllib.error import HTTPError

from django.conf import settings
from django.urls import reverse
from slack_sdk.errors import SlackApiError, SlackClientError

from agents.charts import alt_text, render_png, stored_charts
from agents.models import Run, RunStatus
from agents.table_image import render_table_png
from integrations.slack.blocks import SlackMessage, answer_messages, answered_below_message, progress_message, wide_tables
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


def run_answer_messages(*, run: Run, table_images: bool = False) -> list[SlackMessage]:
    """The run's answer as Block Kit messages (:func:`integrations.slack.blocks.answer_messages`).

    Header: the question; a failed run shows its failure message (never ``run.error``, which may
    hold internals) and "failed" after the run id in the context line. ``table_images``: wide
    tables say their image is attached (the caller uploads it).
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
        table_images=table_images,
    )


def slack_post_answer(*, run: Run) -> int:
    """Deliver the run's answer in its Slack thread as Block Kit messages; returns how many.

    One message: it replaces the "Working on it…" acknowledgement (``chat.update``). Several
    (over 50 blocks or ``blocks.MESSAGE_CHARS`` characters): the acknowledgement says the answer
    follows and the messages are posted in order, stopping at the first one Slack refuses (a
    later piece alone would read out of context). Without an acknowledgement, or when the update
    is refused, the answer is posted as new messages. Once the answer is in the thread, its
    files follow (:func:`slack_upload_answer_files`). Called by the worker inside
    ``tenant_context(run.tenant)``; never raises.
    """
    app = _app_for_posting(run)
    if app is None:
        return 0
    succeeded = run.status == RunStatus.SUCCEEDED
    messages = run_answer_messages(run=run, table_images=succeeded)
    ack_ts = _ack_ts(run)
    posted = 0
    if ack_ts and len(messages) == 1 and _update(run=run, app=app, ts=ack_ts, message=messages[0]):
        posted = 1
    else:
        if ack_ts and len(messages) > 1:
            _update(run=run, app=app, ts=ack_ts, message=answered_below_message(run_ref=str(run.tracking_id), count=len(messages)))
        for message in messages:
            if _post(run=run, app=app, message=message) is None:
                break
            posted += 1
    if posted and succeeded:
        slack_upload_answer_files(run=run, app=app)
    return posted


# --- files: charts and wide tables as images ---------------------------------------------------------

# Slack refuses a longer ``alt_txt`` (files.getUploadURLExternal: ``alt_txt_too_large``,
# https://api.slack.com/methods/files.getUploadURLExternal).
SLACK_ALT_TXT_CHARS = 1000
_ALT_CUT_NOTE = " … (cut to Slack's 1,000-character limit; every figure is in the run's chart data)"


def slack_alt_text(text: str) -> str:
    """``text`` within Slack's 1,000-character ``alt_txt`` limit: cut after the last whole figure
    (``"; "``) that fits, with a note saying it was cut and where the figures are."""
    text = " ".join(text.split())
    if len(text) <= SLACK_ALT_TXT_CHARS:
        return text
    room = SLACK_ALT_TXT_CHARS - len(_ALT_CUT_NOTE)
    cut = text.rfind("; ", 0, room)
    return text[: cut if cut > 0 else room].rstrip() + _ALT_CUT_NOTE


def _answer_files(run: Run) -> list[dict]:
    """What to attach after the answer: ``[{"name", "title", "alt", "render"}]`` in order, charts
    first (``chart-<n>.png``), then wide tables (``table-<k>.png``, numbered as the answer's
    "Full table in the attached image k." lines). ``render`` draws the PNG when called."""
    files: list[dict] = []
    for n, spec in stored_charts(run.charts):
        files.append({"name": f"chart-{n}.png", "title": spec.title, "alt": slack_alt_text(alt_text(spec)),
                      "render": lambda spec=spec: render_png(spec)})
    for k, table in enumerate(wide_tables(run.answer_markdown or ""), start=1):
        columns = ", ".join(table.header)
        alt = f"Table image {k}: {len(table.rows)} row{'s' if len(table.rows) != 1 else ''}, columns {columns}; the same rows are in the answer's text."
        files.append({"name": f"table-{k}.png", "title": f"Table {k}", "alt": slack_alt_text(alt),
                      "render": lambda table=table, k=k: render_table_png(header=table.header, rows=table.rows, aligns=table.aligns, title=f"Table {k}")})
    return files


def _upload(run: Run, app: SlackApp, *, channel: str, thread_ts: str, name: str, title: str, alt: str, png: bytes) -> tuple[bool, str]:
    """One ``files_upload_v2`` (files.getUploadURLExternal -> upload -> files.completeUploadExternal)
    into the thread; ``(ok, error)`` where ``error`` is Slack's error code or the failure's kind."""
    try:
        slack_client(token=app.bot_token).files_upload_v2(
            filename=name, content=png, title=title, alt_txt=alt, channel=channel, thread_ts=thread_ts
        )
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "slack_error")
    except HTTPError as exc:  # the upload URL answered an HTTP error
        error = f"upload failed (HTTP {exc.code})"
    except (SlackClientError, OSError) as exc:  # SlackRequestError: the upload URL answered another non-200
        error = f"upload failed ({type(exc).__name__})"
    except Exception as exc:  # rendering or anything else: the answer is already delivered
        error = f"internal error ({type(exc).__name__})"
    else:
        connector_record_for_kind(kind=ConnectorKind.SLACK, ok=True)
        return True, ""
    logger.warning("run %s: Slack file upload %s failed: %s", run.tracking_id, name, error)
    connector_record_for_kind(kind=ConnectorKind.SLACK, ok=False, error=f"Slack file upload failed: {error}")
    return False, error


def slack_upload_answer_files(*, run: Run, app: SlackApp | None = None) -> list[dict]:
    """Upload the answer's charts (PNG, alt text stating every figure, title = chart title) and an
    image of each wide table into the run's thread, after the answer; returns the delivery record.

    The record ``[{"name": "chart-1.png", "title": str, "ok": bool, "error": str}]`` is stored on
    the run as ``reply_to["slack"]["files"]`` (shown on the admin run page). A file already
    recorded as uploaded is not uploaded again (a second delivery of the same run). A failure is
    logged (Slack's error code only), recorded, and the next file is tried: the text answer is
    never affected. Needs the bot scope ``files:write``. Never raises.
    """
    app = app or _app_for_posting(run)
    target = _target(run)
    if app is None or target is None:
        return []
    channel, thread_ts = target
    stored = Run.objects.filter(pk=run.pk).values_list("reply_to", flat=True).first()
    if isinstance(stored, dict):
        run.reply_to = stored
    done = {f.get("name") for f in (run.reply_to.get("slack") or {}).get("files") or [] if f.get("ok")}
    record: list[dict] = []
    for item in _answer_files(run):
        if item["name"] in done:
            record.append({"name": item["name"], "title": item["title"], "ok": True, "error": ""})
            continue
        try:
            png = item["render"]()
        except Exception as exc:  # a spec matplotlib cannot draw must not stop the others
            logger.error("run %s: could not render %s: %s", run.tracking_id, item["name"], type(exc).__name__)
            ok, error = False, f"could not render ({type(exc).__name__})"
        else:
            ok, error = _upload(run, app, channel=channel, thread_ts=thread_ts, name=item["name"], title=item["title"], alt=item["alt"], png=png)
        record.append({"name": item["name"], "title": item["title"], "ok": ok, "error": error})
    if record:
        run.reply_to = {**run.reply_to, "slack": {**(run.reply_to.get("slack") or {}), "files": record}}
        Run.objects.filter(pk=run.pk).update(reply_to=run.reply_to)
    return record
