"""Slack interactivity endpoint: one per tenant, ``POST /slack/interactivity/<tenant slug>``.

Receives Block Kit button clicks. The tenant is resolved here, once, from the URL; the request is
verified with that tenant's signing secret (slack-sdk ``SignatureVerifier``: ``v0`` HMAC-SHA256,
5-minute window; :func:`integrations.slack.verification.slack_verified_body`), the payload is
checked against :class:`integrations.slack.payloads.SlackInteraction` and handed to
:func:`actions.slack_interactivity.slack_interaction_handle`. Slack is answered 200 at once;
Slack messages are sent by worker tasks.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from actions.slack_interactivity import slack_interaction_handle
from integrations.slack.payloads import slack_interaction_check
from integrations.slack.verification import slack_text_response, slack_verified_body
from revops.lib.json_limits import JsonLimitError, json_loads_limited
from tenants.context import tenant_context

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def slack_interactivity(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    """Receive a signed Slack interaction (``payload=<json>`` form body) for ``tenant_slug``.

    Responses: 413 body over ``settings.MAX_REQUEST_BYTES``; 404 unknown tenant or no usable
    Slack credential; 401 missing/invalid/stale signature (nothing changes); 400 no JSON
    ``payload`` field, or one nested deeper than ``revops.lib.json_limits.MAX_JSON_DEPTH``; 200
    otherwise (decided, refused or ignored: see the log), including a payload whose fields do not
    match :class:`integrations.slack.payloads.SlackInteraction` (ignored, logged).
    """
    verified = slack_verified_body(request, tenant_slug, what="interaction")
    if isinstance(verified, HttpResponse):
        return verified
    tenant, body, app = verified
    with tenant_context(tenant):
        try:
            raw = parse_qs(body.decode("utf-8"), strict_parsing=False).get("payload", [""])[0]
            payload = json_loads_limited(raw)
        except JsonLimitError as exc:
            return slack_text_response(400, f"Malformed payload: {exc}")
        except (ValueError, UnicodeDecodeError):
            return slack_text_response(400, "Malformed payload")
        if not isinstance(payload, dict):
            return slack_text_response(400, "Malformed payload")
        checked = slack_interaction_check(payload)
        if isinstance(checked, str):  # validly signed, unknown shape: 200 so Slack does not retry
            logger.warning("slack interaction for tenant %s: %s", tenant.slug, checked)
            return slack_text_response(200, "")
        outcome = slack_interaction_handle(tenant=tenant, payload=checked, app=app)
    logger.info("slack interaction for tenant %s: %s", tenant.slug, outcome)
    return slack_text_response(200, "")
