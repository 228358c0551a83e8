"""Writes for tenants and API keys."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from tenants.models import ApiKey, Tenant
from tenants.settings_schema import TenantSettingsInvalid, tenant_settings_dump, tenant_settings_validate


#: ``ApiKey.last_used_at`` is written at most once per key per this interval: a row write on every
#: request (GETs included) cost a round trip and a WAL record per call under load.
APIKEY_LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


class ApiKeyInvalid(Exception):
    """The presented API key is malformed, unknown or revoked."""


def tenant_create(*, slug: str, name: str, time_zone: str = "UTC", settings: dict | None = None) -> Tenant:
    """Create a tenant; ``settings`` is a settings document (``tenants.settings_schema``), stored
    as given (dates as ISO strings).

    Raises ``django.core.exceptions.ValidationError`` (nothing saved) on a bad slug, time zone or
    settings; ``message_dict["settings"]`` names each bad setting by dotted path
    (``"actions.auto_approve: Input should be a valid list"``).
    """
    errors: dict[str, list[str]] = {}
    document: dict = {}
    try:
        document = tenant_settings_dump(tenant_settings_validate(settings))
    except TenantSettingsInvalid as exc:
        errors["settings"] = [f"{path or '(settings)'}: {message}" for path, messages in exc.errors.items() for message in messages]
    tenant = Tenant(slug=slug, name=name, time_zone=time_zone, settings=document)
    try:
        tenant.full_clean()
    except ValidationError as exc:
        errors = {**exc.message_dict, **errors}
    if errors:
        raise ValidationError(errors)
    tenant.save()
    return tenant


def _hash(secret: str) -> str:
    # The secret is 256 random bits, so a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def apikey_create(*, tenant: Tenant, name: str = "default", can_approve: bool = False) -> tuple[ApiKey, str]:
    """Create an API key; return ``(row, plaintext_key)``. The plaintext is not stored anywhere.
    ``can_approve`` lets the key approve or reject proposed actions."""
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    row = ApiKey.objects.for_tenant(tenant).create(
        tenant=tenant, name=name, prefix=prefix, key_hash=_hash(secret), can_approve=can_approve
    )
    return row, f"rk_{prefix}_{secret}"


def apikey_authenticate(*, raw_key: str) -> ApiKey:
    """Return the live ApiKey for ``raw_key`` (``rk_<prefix>_<secret>``).

    The tenant is unknown until the key is found, so the lookup is unscoped by prefix, then the
    secret is compared in constant time. ``last_used_at`` is refreshed when it is older than
    :data:`APIKEY_LAST_USED_RESOLUTION` (one minute), by a conditional UPDATE so that concurrent
    requests with the same key write it once. Raises :class:`ApiKeyInvalid`.
    """
    parts = raw_key.split("_", 2)
    if len(parts) != 3 or parts[0] != "rk" or not parts[1] or not parts[2]:
        raise ApiKeyInvalid("Malformed API key.")
    row = (
        ApiKey.objects.unscoped()  # the key is what tells us the tenant
        .select_related("tenant")
        .filter(prefix=parts[1], revoked_at__isnull=True)
        .first()
    )
    if row is None or not hmac.compare_digest(row.key_hash, _hash(parts[2])):
        raise ApiKeyInvalid("Unknown or revoked API key.")
    now = timezone.now()
    stale_before = now - APIKEY_LAST_USED_RESOLUTION
    if row.last_used_at is None or row.last_used_at < stale_before:
        ApiKey.objects.for_tenant(row.tenant_id).filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale_before), pk=row.pk).update(
            last_used_at=now
        )
    return row
