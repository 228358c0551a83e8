"""``slack_notify``: one message to a channel or a user through the tenant's Slack bot.

Payload: ``channel`` (a channel id ``C…``/``G…``, a ``#name``, or a user id ``U…``/``W…`` for a
direct message from the app), ``text`` (Markdown, converted to Slack mrkdwn; at most
``SLACK_MESSAGE_CHARS`` once converted, longer text is cut with a marker so the action stays
one message and a retry can never post half of it twice), optional ``thread_ts``.

Slack has no idempotency key for ``chat.postMessage``: a worker killed after Slack accepted the
message but before the outcome was stored leads to a second message on retry (at-least-once).
"""

from __future__ import annotations

import re

from django.conf import settings
from rest_framework import serializers
from slack_sdk.errors import SlackApiError, SlackClientError

from actions.handlers.base import Described, Handler, PermanentError, RetryableError
from actions.models import Action, ActionKind
from integrations.outbound import parse_retry_after
from integrations.slack.client import slack_client
from integrations.slack.mrkdwn import markdown_to_mrkdwn
from integrations.slack.selectors import slack_app_get

_CHANNEL = re.compile(r"^(#[a-z0-9][a-z0-9._-]{0,79}|[CGDUW][A-Z0-9]{2,20})$")
_TS = re.compile(r"^\d{6,12}\.\d{1,8}$")
_RETRYABLE_CODES = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}


class SlackNotifyPayload(serializers.Serializer):
    """``{"channel": "#name" or a Slack id, "text": up to 20,000 chars, "thread_ts": optional}``."""
    channel = serializers.RegexField(_CHANNEL, max_length=81)
    text = serializers.CharField(max_length=20_000, trim_whitespace=True)
    thread_ts = serializers.RegexField(_TS, required=False, allow_blank=True, default="")


def _header(headers, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value[0] if isinstance(value, list) else value
    return None


def _fit(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    marker = "\n…(truncated)"
    return text[: max(0, limit - len(marker))].rstrip() + marker


class SlackNotifyHandler(Handler):
    """Posts one message through the tenant's Slack bot (``chat.postMessage``); at-least-once."""
    kind = ActionKind.SLACK_NOTIFY.value
    serializer_class = SlackNotifyPayload

    def describe(self, *, tenant, payload: dict) -> Described:
        where = payload["channel"]
        label = f"Slack {'DM to ' if where[0] in 'UW' else ''}{where}"
        return Described(target=label, preview=payload["text"][:4000])

    def execute(self, action: Action) -> dict:
        app = slack_app_get()
        if app is None or not app.bot_token:
            raise PermanentError("the tenant has no Slack bot token configured")
        payload = action.payload
        text = _fit(markdown_to_mrkdwn(payload["text"]), int(getattr(settings, "SLACK_MESSAGE_CHARS", 3000)))
        kwargs = {"channel": payload["channel"], "text": text, "unfurl_links": False, "unfurl_media": False}
        if payload.get("thread_ts"):
            kwargs["thread_ts"] = payload["thread_ts"]
        try:
            response = slack_client(token=app.bot_token).chat_postMessage(**kwargs)
        except SlackApiError as exc:
            code = str(exc.response.get("error") or "unknown_error")
            if code in _RETRYABLE_CODES or exc.response.status_code in (429, 500, 502, 503, 504):
                raise RetryableError(f"Slack error {code}", retry_after=parse_retry_after(_header(exc.response.headers, "retry-after"))) from None
            raise PermanentError(f"Slack refused the message: {code}") from None
        except (SlackClientError, OSError) as exc:
            raise RetryableError(f"Slack unreachable: {type(exc).__name__}") from None
        return {"channel": response.get("channel"), "ts": response.get("ts")}
