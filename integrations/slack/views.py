"""Slack Events API endpoint: one per tenant, ``POST /slack/events/<tenant slug>``.

The tenant is resolved here, once, from the URL (DESIGN.md §3.4); the request is then verified
with that tenant's signing secret, so a payload signed for one tenant is refused on another's
URL. The view only parses and verifies; :func:`integrations.slack.services.slack_event_handle`
does the work and the answer runs on a worker, so Slack gets its 200 well within 3 s.
"""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from slack_sdk.signature import SignatureVerifier

from integrations.slack.selectors import slack_app_get
from integrations.slack.services import slack_event_handle
from tenants.context import tenant_context
from tenants.models import Tenant

logger = logging.getLogger(__name__)


def _text(status: int, message: str) -> HttpResponse:
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def _signature_valid(signing_secret: str, body: bytes, request: HttpRequest) -> bool:
    """Slack's ``v0`` HMAC-SHA256 signature check, with its 5-minute timestamp window."""
    try:
        return SignatureVerifier(signing_secret).is_valid_request(body, dict(request.headers))
    except (ValueError, TypeError):  # e.g. a non-numeric X-Slack-Request-Timestamp
        return False


def slack_verified_body(request: HttpRequest, tenant_slug: str, *, what: str) -> tuple[Tenant, bytes] | HttpResponse:
    """Resolve the tenant from the URL and verify the request with its signing secret.

    Returns ``(tenant, body)``, or the response to send: 413 body over
    ``settings.MAX_REQUEST_BYTES``; 404 unknown tenant or no usable Slack credential (identical);
    401 missing, invalid or stale signature (nothing stored). Shared by the events and the
    interactivity endpoints.
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
    tenant = Tenant.objects.filter(slug=tenant_slug).first()
    if tenant is None:
        return _text(404, "Not found")
    with tenant_context(tenant):
        app = slack_app_get()
    if app is None:
        return _text(404, "Not found")
    if not _signature_valid(app.signing_secret, body, request):
        logger.warning("slack %s for tenant %s: invalid or stale signature", what, tenant.slug)
        return _text(401, "Invalid signature")
    return tenant, body


@csrf_exempt
@require_POST
def slack_events(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    """Receive a signed Slack Events API request for the tenant ``tenant_slug``.

    Responses: 413 body over ``settings.MAX_REQUEST_BYTES``; 404 unknown tenant or tenant
    without a usable Slack credential (identical responses); 401 missing/invalid signature or a
    timestamp more than 5 minutes off (nothing stored or queued); 400 body not a JSON object;
    200 ``{"challenge": ...}`` for ``url_verification``; 200 ``ok`` for every event callback,
    whether queued, duplicate (a retry) or ignored. 405 for anything but POST.
    """
    verified = slack_verified_body(request, tenant_slug, what="event")
    if isinstance(verified, HttpResponse):
        return verified
    tenant, body = verified
    with tenant_context(tenant):
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return _text(400, "Malformed JSON")
        if not isinstance(payload, dict):
            return _text(400, "Malformed JSON")
        if payload.get("type") == "url_verification":
            challenge = payload.get("challenge")
            if not isinstance(challenge, str):
                return _text(400, "Missing challenge")
            return JsonResponse({"challenge": challenge})
        outcome = slack_event_handle(tenant=tenant, payload=payload)
    logger.info(
        "slack event %s for tenant %s (retry %s): %s",
        str(payload.get("event_id"))[:64],
        tenant.slug,
        request.headers.get("X-Slack-Retry-Num", "0")[:4],
        outcome,
    )
    return _text(200, "ok")
