"""Connector health: the outcome of the calls made with each connector credential.

Every client call site reports through one helper, :func:`connector_record`: a success sets
``last_success_at`` and resets ``consecutive_failures`` to 0; a failure sets ``last_error`` (the
message with the credential's secret values masked, one line, at most
:data:`ERROR_MAX_CHARS` characters), ``last_error_at`` and adds 1 to ``consecutive_failures``.

A connector is **unhealthy** once ``consecutive_failures`` reaches
``settings.CONNECTOR_UNHEALTHY_AFTER_FAILURES`` (environment, default 5); the next success makes
it healthy again. The connector admin shows it (a status column and read-only fields) and
``/readyz`` lists the unhealthy ones for operators (:func:`connectors_unhealthy`).

Writes are single conditional ``UPDATE`` statements on the health columns only, so concurrent
workers count every failure (``consecutive_failures + 1`` in SQL) and ``updated_at`` (the Slack
signing-secret cache key) does not move. A success is written at most once per
:data:`SUCCESS_WRITE_INTERVAL_SECONDS` while the connector is healthy (busy connectors would
otherwise write on every call); a success after a failure is always written.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from integrations.crypto import SecretDecryptError, decrypt_json
from integrations.models import ConnectorCredential
from integrations.selectors import credential_get

ERROR_MAX_CHARS = 500
SUCCESS_WRITE_INTERVAL_SECONDS = 60
DEFAULT_UNHEALTHY_AFTER_FAILURES = 5
MASK = "[secret]"


def unhealthy_after_failures() -> int:
    """How many failures in a row make a connector unhealthy: ``settings.CONNECTOR_UNHEALTHY_AFTER_FAILURES``
    (default 5, at least 1)."""
    return max(1, int(getattr(settings, "CONNECTOR_UNHEALTHY_AFTER_FAILURES", DEFAULT_UNHEALTHY_AFTER_FAILURES)))


def _secret_values(credential: ConnectorCredential) -> list[str]:
    values: list[str] = []
    for token in (credential.secret_token, credential.previous_secret_token):
        try:
            secrets = decrypt_json(token)
        except SecretDecryptError:
            continue
        values += [v for v in secrets.values() if isinstance(v, str) and len(v) >= 4]
    return sorted(set(values), key=len, reverse=True)  # longest first: a secret containing another is masked whole


def error_redact(credential: ConnectorCredential, error: str) -> str:
    """``error`` as stored and shown: every current or previous secret value of ``credential``
    replaced by ``[secret]``, whitespace collapsed to one line, cut to 500 characters."""
    text = " ".join(str(error or "").split())
    for value in _secret_values(credential):
        text = text.replace(value, MASK)
    return text[:ERROR_MAX_CHARS] or "failed (no message)"


def connector_record(credential: ConnectorCredential, ok: bool, error: str = "") -> None:
    """Record the outcome of one call made with ``credential`` (any tenant: the row is given).

    ``ok``: the external system answered as expected. ``error``: what went wrong, in words (it
    is redacted here, see :func:`error_redact`). Updates the row in the database and the given
    instance; never raises for a row deleted meanwhile. Call it for failures of the connector
    (refused credentials, unreachable host, timeouts, malformed answers, rate limits), not for a
    user's bad input.
    """
    now = timezone.now()
    rows = ConnectorCredential.objects.for_tenant(credential.tenant_id).filter(pk=credential.pk)
    if ok:
        stale = now - timedelta(seconds=SUCCESS_WRITE_INTERVAL_SECONDS)
        rows.filter(Q(consecutive_failures__gt=0) | Q(last_success_at__isnull=True) | Q(last_success_at__lt=stale)).update(
            last_success_at=now, consecutive_failures=0
        )
        credential.last_success_at, credential.consecutive_failures = now, 0
        return
    message = error_redact(credential, error)
    rows.update(last_error=message, last_error_at=now, consecutive_failures=F("consecutive_failures") + 1)
    credential.last_error, credential.last_error_at = message, now
    credential.consecutive_failures = (credential.consecutive_failures or 0) + 1


def connector_unhealthy(credential: ConnectorCredential) -> bool:
    """Whether ``credential`` has failed :func:`unhealthy_after_failures` times in a row (as loaded)."""
    return (credential.consecutive_failures or 0) >= unhealthy_after_failures()


def connector_health_label(credential: ConnectorCredential) -> str:
    """One word or phrase for the admin: ``unhealthy (N failures in a row)``, ``failing (N in a
    row)`` below the threshold, ``healthy`` after a success, ``not used yet`` otherwise."""
    failures = credential.consecutive_failures or 0
    if connector_unhealthy(credential):
        return f"unhealthy ({failures} failures in a row)"
    if failures:
        return f"failing ({failures} in a row)"
    return "healthy" if credential.last_success_at else "not used yet"


def connectors_unhealthy(using: str = "default") -> list[dict[str, Any]]:
    """Every tenant's unhealthy connectors, for operators (``/readyz``): ``[{"tenant": slug,
    "kind", "name", "consecutive_failures": int, "last_error_at": ISO 8601 | None,
    "last_success_at": ISO 8601 | None}]`` ordered by tenant slug, kind and name. No error text
    and no secret: the admin shows the (redacted) error to the tenant's own admins. One query.
    Raises ``django.db.Error`` when the database fails."""
    rows = (
        ConnectorCredential.objects.unscoped()  # operator readiness: every tenant's connectors
        .using(using)
        .filter(consecutive_failures__gte=unhealthy_after_failures())
        .order_by("tenant__slug", "kind", "name")
        .values("tenant__slug", "kind", "name", "consecutive_failures", "last_error_at", "last_success_at")
    )
    return [
        {
            "tenant": r["tenant__slug"],
            "kind": r["kind"],
            "name": r["name"],
            "consecutive_failures": r["consecutive_failures"],
            "last_error_at": r["last_error_at"].isoformat() if r["last_error_at"] else None,
            "last_success_at": r["last_success_at"].isoformat() if r["last_success_at"] else None,
        }
        for r in rows
    ]


def connector_record_for_kind(*, kind: str, ok: bool, error: str = "") -> None:
    """:func:`connector_record` for the current tenant's credential of ``kind`` (the first by id,
    the one :func:`integrations.selectors.credential_get` and the kind's selectors use), for call
    sites that hold a connection value rather than the row (Slack replies, Salesforce updates).
    Does nothing when the tenant has no such credential. Raises ``TenantNotSet`` without a tenant
    in context."""
    credential = credential_get(kind=kind)
    if credential is not None:
        connector_record(credential, ok=ok, error=error)
