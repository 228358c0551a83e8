"""Slack Events API endpoint: one per tenant, ``POST /slack/events/<tenant slug>``.

The tenant is resolved once, from the URL, and the request verified with that tenant's signing
secret (:func:`integrations.slack.verification.slack_request_verify`). Before the 200 the
endpoint does only what must happen first: one SELECT for the tenant's credential (the signing
secret itself is cached per process), the signature check, the in-memory filters, and one
transaction inserting the dedupe row and enqueuing the question
(:func:`agents.slack_events.slack_event_handle`). Membership checks, the run and the
acknowledgement are the worker's (:func:`agents.slack_events.slack_question_process`).
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from agents.slack_events import slack_event_handle
from integrations.slack.payloads import slack_event_envelope_check
from integrations.slack.verification import slack_request_verify, slack_text_response
from revops.lib.json_limits import JsonLimitError, json_loads_limited

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def slack_events(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    """Receive a signed Slack Events API request for the tenant ``tenant_slug``.

    Responses: 413 body over ``settings.MAX_REQUEST_BYTES``; 404 unknown tenant or tenant
    without a usable Slack credential (identical responses); 401 missing/invalid signature or a
    timestamp more than 5 minutes off (nothing stored or queued); 400 body not a JSON object, or
    nested deeper than ``revops.lib.json_limits.MAX_JSON_DEPTH``; 200 ``{"challenge": ...}`` for ``url_verification``; 200 ``ok`` for every event callback,
    whether queued, duplicate (a retry) or ignored (bots, other workspaces, other event types:
    nothing written), and 200 ``ok`` with a warning logged for a payload whose fields do not match
    :class:`integrations.slack.payloads.SlackEventEnvelope` (nothing written). Members-only and run creation are decided later, on the worker, so a
    question from a non-member is answered 200 and then dropped. 405 for anything but POST.
    """
    verified = slack_request_verify(request, tenant_slug, what="event")
    if isinstance(verified, HttpResponse):
        return verified
    endpoint, body = verified
    try:
        payload = json_loads_limited(body)
    except JsonLimitError as exc:
        return slack_text_response(400, f"Malformed JSON: {exc}")
    except (ValueError, UnicodeDecodeError):
        return slack_text_response(400, "Malformed JSON")
    if not isinstance(payload, dict):
        return slack_text_response(400, "Malformed JSON")
    if payload.get("type") == "url_verification":
        challenge = payload.get("challenge")
        if not isinstance(challenge, str):
            return slack_text_response(400, "Missing challenge")
        return JsonResponse({"challenge": challenge})
    checked = slack_event_envelope_check(payload)
    if isinstance(checked, str):  # validly signed but not a shape we know: 200 so Slack stops retrying
        logger.warning("slack event for tenant %s: %s", tenant_slug[:64], checked)
        return slack_text_response(200, "ok")
    payload = checked
    outcome = slack_event_handle(tenant_id=endpoint.tenant_id, payload=payload, app=endpoint.app)
    logger.info(
        "slack event %s for tenant %s (retry %s): %s",
        str(payload.get("event_id"))[:64],
        tenant_slug[:64],
        request.headers.get("X-Slack-Retry-Num", "0")[:4],
        outcome,
    )
    return slack_text_response(200, "ok")
