"""Outbound HTTP (the client every outbound call shares: action handlers, run callbacks, web
search, connector checks): the SSRF guard at delivery time and signed webhook delivery.

Rules (issue "Actions", DESIGN.md §5):

- URLs must be ``https://``; ``http://`` only to a loopback address and only when
  ``settings.ALLOW_HTTP_LOOPBACK_CALLBACKS`` is on (development, tests). Credentials in URLs are
  refused (:func:`revops.lib.urls.check_outbound_url` applies these syntactic rules).
- The host is resolved at delivery time, every address must be public (``is_global``;
  IPv4-mapped IPv6 is unwrapped) unless it lies in the tenant's ``outbound_allowlist``; the
  request then connects to the address that was checked (the host name goes in ``Host`` and in
  TLS SNI/certificate checks), so a DNS answer that changes between check and connect (DNS
  rebinding) cannot redirect it.
- Redirects are never followed; only 2xx is success; 408/429/5xx and network errors are
  retryable (``Retry-After`` honoured); 410 means the receiver is gone; timeout 15 s.

Signing follows the Standard Webhooks spec (https://www.standardwebhooks.com/) with the
``standardwebhooks`` package: ``webhook-id`` (stable across retries), ``webhook-timestamp``
(seconds, this attempt), ``webhook-signature`` (space-separated ``v1,<base64 HMAC-SHA256 of
"id.timestamp.body">``, one per active secret during rotation).
"""

from __future__ import annotations

import base64
import email.utils
import ipaddress
import json
import secrets as pysecrets
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone as dt_timezone
from typing import Iterable, Sequence
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from standardwebhooks import Webhook

from revops.lib.urls import check_outbound_url
from tenants.settings_schema import tenant_settings_section_lenient

MAX_RESPONSE_BYTES = 64 * 1024
RESPONSE_EXCERPT_CHARS = 500
USER_AGENT = "RevOpsAI-Webhooks/1.0"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_ssl_context: ssl.SSLContext | None = None
_ssl_lock = threading.Lock()


def _tls() -> ssl.SSLContext:
    """One verifying TLS context per process: loading the CA bundle costs ~30 ms, more than a
    local delivery. Clients are still made per delivery (a pooled connection must never be
    reused for another host name pinned to the same address)."""
    global _ssl_context
    with _ssl_lock:
        if _ssl_context is None:
            _ssl_context = httpx.create_ssl_context()
        return _ssl_context


@dataclass(frozen=True)
class OutboundTarget:
    """A URL that passed the guard: ``address`` is the checked IP the request will connect to."""

    url: str
    scheme: str
    host: str
    port: int
    address: str


def outbound_allowlist_get(*, tenant) -> tuple[Network, ...]:
    """The networks ``tenant`` allows outbound calls to despite being private, loopback or
    link-local: ``Tenant.settings["actions"]["outbound_allowlist"]`` (CIDR strings, e.g.
    ``"10.0.0.0/8"``) parsed by the lenient settings reader (invalid items dropped with a warning,
    the same parse :func:`actions.selectors.action_policy_get` uses). Empty when absent."""
    section = tenant_settings_section_lenient(tenant, "actions")
    return tuple(ipaddress.ip_network(item, strict=False) for item in section.outbound_allowlist)


def outbound_check(url: str, *, allowlist: Sequence[Network] = ()) -> OutboundTarget:
    """Check ``url`` now and pick the address to connect to.

    Args:
        url: absolute ``https://`` URL (``http://`` loopback in development, see module doc).
        allowlist: networks the tenant allows although they are not public.

    Returns:
        :class:`OutboundTarget` with the first resolved address (every address was checked).

    Raises:
        UnsafeURL: scheme, credentials, unresolvable host, or an address that is not public and
            not allowlisted; the message says which (``"... resolves to a non-public address"``).
    """
    addresses = check_outbound_url(url, allowlist=allowlist)
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)  # already validated above
    return OutboundTarget(url=url, scheme=parts.scheme, host=parts.hostname or "", port=port, address=addresses[0])


# --- signing -------------------------------------------------------------------------------------


def secret_generate() -> str:
    """A new signing secret: ``whsec_`` + base64 of 32 random bytes (Standard Webhooks format)."""
    return "whsec_" + base64.b64encode(pysecrets.token_bytes(32)).decode()


def signature_headers(*, msg_id: str, body: str, secrets: Iterable[str], timestamp: int | None = None) -> dict[str, str]:
    """Standard Webhooks headers for one attempt.

    Args:
        msg_id: ``webhook-id`` (``msg_...``), the same on every retry of a message.
        body: the exact JSON text sent (the signature covers ``"{id}.{timestamp}.{body}"``).
        secrets: ``whsec_...`` secrets; one ``v1,<sig>`` per secret, space-separated.
        timestamp: Unix seconds of this attempt (default now).

    Raises:
        ValueError: no secret given.
    """
    ts = int(time.time()) if timestamp is None else int(timestamp)
    when = datetime.fromtimestamp(ts, tz=dt_timezone.utc)
    signatures = [Webhook(secret).sign(msg_id, when, body) for secret in secrets]
    if not signatures:
        raise ValueError("no signing secret")
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": " ".join(signatures)}


def json_body(document: dict) -> str:
    """The JSON text sent for ``document`` (compact, keys sorted, ASCII: stable across retries)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)


# --- delivery ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryResult:
    """Outcome of one POST. ``kind``: ``"success"`` (2xx), ``"retry"`` (408/429/5xx, network
    error, timeout), ``"gone"`` (410), ``"refused"`` (any other status, redirects included).
    ``retry_after`` in seconds when the receiver sent ``Retry-After``; ``status_code`` 0 when no
    response arrived."""

    kind: str
    status_code: int
    detail: str
    retry_after: float | None = None
    response_excerpt: str = ""


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now (delta-seconds or an HTTP-date), None when absent or
    malformed; never negative."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt_timezone.utc)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def post_signed(
    *,
    target: OutboundTarget,
    body: str,
    msg_id: str,
    secrets: Sequence[str],
    timeout: float | None = None,
) -> DeliveryResult:
    """POST ``body`` (JSON text) to ``target``, signed, connecting to ``target.address``.

    Never follows redirects; reads at most 64 KiB of the response. ``timeout`` (seconds,
    default ``settings.ACTIONS_HTTP_TIMEOUT_SECONDS``, 15 unless set) applies to connect, each read and
    write. Never raises for HTTP or network failures: they are classified in the result.
    """
    timeout = float(timeout if timeout is not None else settings.ACTIONS_HTTP_TIMEOUT_SECONDS)
    url = httpx.URL(target.url)
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
    if ":" in target.host and target.port == default_port:
        host_header = f"[{target.host}]"
    elif ":" in target.host:
        host_header = f"[{target.host}]:{target.port}"
    pinned = url.copy_with(host=target.address)
    headers = {
        "Host": host_header,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signature_headers(msg_id=msg_id, body=body, secrets=secrets),
    }
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False, verify=_tls()) as client:
            request = client.build_request("POST", pinned, content=body.encode(), headers=headers, extensions=extensions)
            response = client.send(request, stream=True)
            try:
                raw = b""
                for chunk in response.iter_bytes():
                    raw += chunk
                    if len(raw) >= MAX_RESPONSE_BYTES:
                        break
            finally:
                response.close()
    except httpx.TimeoutException as exc:
        return DeliveryResult("retry", 0, f"timed out after {timeout:.0f} s ({type(exc).__name__})")
    except httpx.HTTPError as exc:
        return DeliveryResult("retry", 0, f"network error: {type(exc).__name__}")
    code = response.status_code
    excerpt = raw[:RESPONSE_EXCERPT_CHARS].decode("utf-8", errors="replace")
    if 200 <= code < 300:
        return DeliveryResult("success", code, f"HTTP {code}", response_excerpt=excerpt)
    if code == 410:
        return DeliveryResult("gone", code, "HTTP 410 Gone: the receiver asked us to stop", response_excerpt=excerpt)
    if code in (408, 429) or code >= 500:
        return DeliveryResult(
            "retry", code, f"HTTP {code}", retry_after=parse_retry_after(response.headers.get("Retry-After")), response_excerpt=excerpt
        )
    if 300 <= code < 400:
        location = urlsplit(response.headers.get("Location", "")).hostname or "?"
        return DeliveryResult("refused", code, f"HTTP {code} redirect to {location!r} not followed", response_excerpt=excerpt)
    return DeliveryResult("refused", code, f"HTTP {code}", response_excerpt=excerpt)
