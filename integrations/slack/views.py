"""Slack Events API endpoint: one per tenant, ``POST /slack/events/<tenant slug>``.

The tenant is resolved here, once, from the URL (DESIGN.md §3.4); the request is then verified
with that tenant's signing secret, so a payload signed for one tenant is refused on another's
URL. Before the 200 the events endpoint does only what must happen first: one SELECT for the
tenant's credential (the signing secret itself is cached per process,
``integrations.slack.verification``), the signature check, the in-memory filters, and one
transaction inserting the dedupe row and enqueuing the question
(:func:`integrations.slack.services.slack_event_handle`). Membership checks, the run and the
acknowledgement are the worker's (``integrations.slack.tasks``).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from integrations.slack.payloads import slack_event_envelope_check
from integrations.slack.selectors import SlackApp
from integrations.slack.services import slack_event_handle
from integrations.slack.verification import SlackEndpoint, slack_endpoint_get, slack_signature_valid
from revops.lib.json_limits import JsonLimitError, json_loads_limited
from tenants.models import Tenant

logger = logging.getLogger(__name__)


def _text(status: int, message: str) -> HttpResponse:
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def _verified(request: HttpRequest, tenant_slug: str, *, what: str) -> tuple[SlackEndpoint, bytes] | HttpResponse:
    """Resolve the tenant's Slack app from the URL and verify the request with its signing secret.

    Returns ``(endpoint, body)``, or the response to send: 413 body over
    ``settings.MAX_REQUEST_BYTES``; 404 unknown tenant or no usable Slack credential (identical);
    401 missing, invalid or stale signature (nothing stored).
    """
    max_bytes = settings.MAX_REQUEST_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > max_bytes:
        return _text(413, "Request body too large")
    try:
        body = request.body
    except RequestDataTooBig:
        return _text(413, "Request body too large")
    if len(body) > max_bytes:
        return _text(413, "Request body too large")
    endpoint = slack_endpoint_get(tenant_slug=tenant_slug)
    if endpoint is None:
        return _text(404, "Not found")
    if not slack_signature_valid(endpoint.app.signing_secret, body, request):
        logger.warning("slack %s for tenant %s: invalid or stale signature", what, tenant_slug[:64])
        return _text(401, "Invalid signature")
    return endpoint, body


def slack_verified_body(request: HttpRequest, tenant_slug: str, *, what: str) -> tuple[Tenant, bytes, SlackApp] | HttpResponse:
    """Resolve the tenant from the URL and verify the request with its signing secret.

    Returns ``(tenant, body, app)`` (the tenant row freshly read; ``app`` the Slack app that
    verified the request, so callers need not load and decrypt it again), or the response to send: 413 body
    over ``settings.MAX_REQUEST_BYTES``; 404 unknown tenant or no usable Slack credential
    (identical); 401 missing, invalid or stale signature (nothing stored). Used by the
    interactivity endpoint; the events endpoint needs only the tenant's id.
    """
    verified = _verified(request, tenant_slug, what=what)
    if isinstance(verified, HttpResponse):
        return verified
    endpoint, body = verified
    tenant = Tenant.objects.filter(pk=endpoint.tenant_id).first()
    if tenant is None:  # deleted meanwhile
        return _text(404, "Not found")
    return tenant, body, endpoint.app


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
    verified = _verified(request, tenant_slug, what="event")
    if isinstance(verified, HttpResponse):
        return verified
    endpoint, body = verified
    try:
        payload = json_loads_limited(body)
    except JsonLimitError as exc:
        return _text(400, f"Malformed JSON: {exc}")
    except (ValueError, UnicodeDecodeError):
        return _text(400, "Malformed JSON")
    if not isinstance(payload, dict):
        return _text(400, "Malformed JSON")
    if payload.get("type") == "url_verification":
        challenge = payload.get("challenge")
        if not isinstance(challenge, str):
            return _text(400, "Missing challenge")
        return JsonResponse({"challenge": challenge})
    checked = slack_event_envelope_check(payload)
    if isinstance(checked, str):  # validly signed but not a shape we know: 200 so Slack stops retrying
        logger.warning("slack event for tenant %s: %s", tenant_slug[:64], checked)
        return _text(200, "ok")
    payload = checked
    outcome = slack_event_handle(tenant_id=endpoint.tenant_id, payload=payload, app=endpoint.app)
    logger.info(
        "slack event %s for tenant %s (retry %s): %s",
        str(payload.get("event_id"))[:64],
        tenant_slug[:64],
        request.headers.get("X-Slack-Retry-Num", "0")[:4],
        outcome,
    )
    return _text(200, "ok")
