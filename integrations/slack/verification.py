"""Slack request verification: the tenant's signing secret, cached per process, and the ``v0`` check.

Slack gives an endpoint 3 seconds, and the events endpoint sees bursts, so the signing secret is
not fetched and decrypted per request: :func:`slack_endpoint_get` reads one row (the tenant's
``slack`` credential joined to its tenant by the URL's slug: tenant id, row id, ``updated_at``)
and decrypts the secrets only when that ``(tenant, row, updated_at)`` is new to this process.
Every save of the credential (admin form, ``connector_set``, ``credential_set``) moves
``updated_at``, so a changed or replaced secret is used from the next request on; a deleted
credential is a 404 at once. Key rotation (``credentials_rotate``) rewrites the ciphertext without
changing the plaintext, so a cached entry stays right.

:func:`slack_request_verify` / :func:`slack_verified_body` are the request side, shared by the
events endpoint (:mod:`agents.views`) and the interactivity endpoint (:mod:`actions.views`):
body size limit, tenant from the URL, signature check.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from slack_sdk.signature import SignatureVerifier

from integrations.models import ConnectorCredential, ConnectorKind
from integrations.slack.selectors import SlackApp, slack_app_from_credential
from tenants.models import Tenant

logger = logging.getLogger(__name__)

_CACHE_MAX = 1024  # entries (one per tenant's Slack credential); cleared wholesale when full

_cache: dict[tuple[int, int], tuple[dt.datetime, SlackApp | None]] = {}
_rows: dict[str, tuple[float, tuple[int, int, dt.datetime] | None]] = {}  # slug -> (monotonic read time, row)
_lock = threading.Lock()
_clock = time.monotonic  # the lookup window's clock (a test moves it)


@dataclass(frozen=True)
class SlackEndpoint:
    """What a verified Slack request needs: the tenant's id and its Slack app (secrets out of repr)."""

    tenant_id: int
    app: SlackApp


def slack_endpoint_get(*, tenant_slug: str) -> SlackEndpoint | None:
    """The Slack app of the tenant whose slug is ``tenant_slug``, or None (unknown tenant, no
    ``slack`` credential, or one without a usable signing secret: callers answer all with one 404).

    At most one SELECT per call: the slug's credential row (tenant id, id, ``updated_at``) is
    reused for ``SLACK_ENDPOINT_CACHE_SECONDS`` (default 5 s; a replaced or deleted credential is
    seen at most that late), and the decryption is cached per process, keyed by the tenant, the
    credential row and its ``updated_at``. Thread-safe. The first ``slack`` credential by id is
    used, like :func:`integrations.slack.selectors.slack_app_get`.
    """
    now = _clock()
    ttl = settings.SLACK_ENDPOINT_CACHE_SECONDS
    memo = _rows.get(tenant_slug) if ttl > 0 else None
    if memo is not None and now - memo[0] < ttl:
        row = memo[1]
    else:
        row = (
            ConnectorCredential.objects.unscoped()  # the tenant is resolved here from the URL's slug (DESIGN.md §3.4)
            .filter(tenant__slug=tenant_slug, kind=ConnectorKind.SLACK)
            .order_by("pk")
            .values_list("tenant_id", "pk", "updated_at")
            .first()
        )
        if ttl > 0:
            with _lock:
                if len(_rows) >= _CACHE_MAX:
                    _rows.clear()
                _rows[tenant_slug] = (now, row)
    if row is None:
        return None
    tenant_id, credential_id, updated_at = row
    key = (tenant_id, credential_id)
    hit = _cache.get(key)
    if hit is not None and hit[0] == updated_at:
        app = hit[1]
    else:
        credential = (
            ConnectorCredential.objects.for_tenant(tenant_id)  # the tenant found above
            .filter(pk=credential_id)
            .only("pk", "config", "secret_token", "updated_at", "previous_secret_token", "previous_valid_until")
            .first()
        )
        if credential is None:  # deleted meanwhile
            return None
        app = slack_app_from_credential(credential)
        with _lock:
            if len(_cache) >= _CACHE_MAX:
                _cache.clear()
            _cache[key] = (credential.updated_at, app)  # the row read, even if saved again since the first read
    if app is None:
        return None
    return SlackEndpoint(tenant_id=tenant_id, app=app)


def slack_secret_cache_clear() -> None:
    """Forget every cached Slack app of this process (tests; never needed for correctness)."""
    with _lock:
        _cache.clear()
        _rows.clear()


def slack_signature_valid(signing_secret: str, body: bytes, request: HttpRequest) -> bool:
    """Slack's ``v0`` HMAC-SHA256 signature check, with its 5-minute timestamp window.

    ``body``: the raw request body (bytes). False for a missing, wrong or stale signature and
    for malformed headers (e.g. a non-numeric ``X-Slack-Request-Timestamp``); never raises.
    """
    try:
        return SignatureVerifier(signing_secret).is_valid_request(body, dict(request.headers))
    except (ValueError, TypeError):
        return False


def slack_text_response(status: int, message: str) -> HttpResponse:
    """A ``text/plain`` response with ``status``: what the Slack endpoints answer (Slack shows no body)."""
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def slack_request_verify(request: HttpRequest, tenant_slug: str, *, what: str) -> tuple[SlackEndpoint, bytes] | HttpResponse:
    """Resolve the tenant's Slack app from the URL and verify the request with its signing secret.

    The one place a Slack endpoint resolves its tenant (DESIGN.md §3.4): the tenant is taken from
    the URL and the request verified with that tenant's signing secret, so a payload signed for
    one tenant is refused on another's URL. ``what`` names the request in the log
    (``"event"``, ``"interaction"``). Returns ``(endpoint, body)``, or the response to send: 413 body over
    ``settings.MAX_REQUEST_BYTES``; 404 unknown tenant or no usable Slack credential (identical);
    401 missing, invalid or stale signature (nothing stored).
    """
    max_bytes = settings.MAX_REQUEST_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > max_bytes:
        return slack_text_response(413, "Request body too large")
    try:
        body = request.body
    except RequestDataTooBig:
        return slack_text_response(413, "Request body too large")
    if len(body) > max_bytes:
        return slack_text_response(413, "Request body too large")
    endpoint = slack_endpoint_get(tenant_slug=tenant_slug)
    if endpoint is None:
        return slack_text_response(404, "Not found")
    if not any(slack_signature_valid(secret, body, request) for secret in endpoint.app.signing_secrets()):
        logger.warning("slack %s for tenant %s: invalid or stale signature", what, tenant_slug[:64])
        return slack_text_response(401, "Invalid signature")
    return endpoint, body


def slack_verified_body(request: HttpRequest, tenant_slug: str, *, what: str) -> tuple[Tenant, bytes, SlackApp] | HttpResponse:
    """Resolve the tenant from the URL and verify the request with its signing secret.

    Returns ``(tenant, body, app)`` (the tenant row freshly read; ``app`` the Slack app that
    verified the request, so callers need not load and decrypt it again), or the response to send: 413 body
    over ``settings.MAX_REQUEST_BYTES``; 404 unknown tenant or no usable Slack credential
    (identical); 401 missing, invalid or stale signature (nothing stored). Used by the
    interactivity endpoint; the events endpoint needs only the tenant's id.
    """
    verified = slack_request_verify(request, tenant_slug, what=what)
    if isinstance(verified, HttpResponse):
        return verified
    endpoint, body = verified
    tenant = Tenant.objects.filter(pk=endpoint.tenant_id).first()
    if tenant is None:  # deleted meanwhile
        return slack_text_response(404, "Not found")
    return tenant, body, endpoint.app
