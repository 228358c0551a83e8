"""The one seam to Slack's Web API: every outbound call builds its client here.

Tests point ``settings.SLACK_API_URL`` at a local fake (``integrations/tests/fake_slack.py``) and
exercise the real ``slack_sdk`` client against it.
"""

from __future__ import annotations

from django.conf import settings
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

SLACK_TIMEOUT_SECONDS = 10


def slack_client(*, token: str) -> WebClient:
    """A ``WebClient`` for a tenant's bot token (``xoxb-...``) against ``settings.SLACK_API_URL``.

    Timeout 10 s per call; one retry on a connection error and one on HTTP 429 (honouring
    ``Retry-After``). Calls raise ``slack_sdk.errors.SlackApiError`` when Slack answers
    ``{"ok": false}`` and ``OSError``/``urllib.error.URLError`` when it cannot be reached.
    """
    return WebClient(
        token=token,
        base_url=settings.SLACK_API_URL,
        timeout=SLACK_TIMEOUT_SECONDS,
        retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=1), RateLimitErrorRetryHandler(max_retry_count=1)],
    )
