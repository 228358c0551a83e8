"""Slack request verification: the tenant's signing secret, cached per process, and the ``v0`` check.

Slack gives an endpoint 3 seconds, and the events endpoint sees bursts, so the signing secret is
not fetched and decrypted per request: :func:`slack_endpoint_get` reads one row (the tenant's
``slack`` credential joined to its tenant by the URL's slug: tenant id, row id, ``updated_at``)
and decrypts the secrets only when that ``(tenant, row, updated_at)`` is new to this process.
Every save of the credential (admin form, ``connector_set``, ``credential_set``) moves
``updated_at``, so a changed or replaced secret is used from the next request on; a deleted
credential is a 404 at once. Key rotation (``credentials_rotate``) rewrites the ciphertext without
changing the plaintext, so a cached entry stays right.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

from django.http import HttpRequest
from slack_sdk.signature import SignatureVerifier

from integrations.models import ConnectorCredential, ConnectorKind
from integrations.slack.selectors import SlackApp, slack_app_from_credential

_CACHE_MAX = 1024  # entries (one per tenant's Slack credential); cleared wholesale when full

_cache: dict[tuple[int, int], tuple[dt.datetime, SlackApp | None]] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class SlackEndpoint:
    """What a verified Slack request needs: the tenant's id and its Slack app (secrets out of repr)."""

    tenant_id: int
    app: SlackApp


def slack_endpoint_get(*, tenant_slug: str) -> SlackEndpoint | None:
    """The Slack app of the tenant whose slug is ``tenant_slug``, or None (unknown tenant, no
    ``slack`` credential, or one without a usable signing secret: callers answer all with one 404).

    One SELECT per call; the decryption is cached per process, keyed by the tenant, the
    credential row and its ``updated_at``. Thread-safe. The first ``slack`` credential by id is
    used, like :func:`integrations.slack.selectors.slack_app_get`.
    """
    row = (
        ConnectorCredential.objects.unscoped()  # the tenant is resolved here from the URL's slug (DESIGN.md §3.4)
        .filter(tenant__slug=tenant_slug, kind=ConnectorKind.SLACK)
        .order_by("pk")
        .values_list("tenant_id", "pk", "updated_at")
        .first()
    )
    if row is None:
        return None
    tenant_id, credential_id, updated_at = row
    key = (tenant_id, credential_id)
    hit = _cache.get(key)
    if hit is not None and hit[0] == updated_at:
        app = hit[1]
    else:
        credential = (
            ConnectorCredential.objects.unscoped()  # by primary key, of the tenant found above
            .filter(pk=credential_id, tenant_id=tenant_id)
            .only("pk", "config", "secret_token", "updated_at")
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


def slack_signature_valid(signing_secret: str, body: bytes, request: HttpRequest) -> bool:
    """Slack's ``v0`` HMAC-SHA256 signature check, with its 5-minute timestamp window.

    ``body``: the raw request body (bytes). False for a missing, wrong or stale signature and
    for malformed headers (e.g. a non-numeric ``X-Slack-Request-Timestamp``); never raises.
    """
    try:
        return SignatureVerifier(signing_secret).is_valid_request(body, dict(request.headers))
    except (ValueError, TypeError):
        return False
