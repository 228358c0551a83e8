"""Writes for connector credentials."""

from __future__ import annotations

from integrations.crypto import encrypt_json, rotate_token
from integrations.models import ConnectorCredential
from tenants.models import Tenant


def credential_set(
    *, tenant: Tenant, kind: str, name: str = "default", config: dict | None = None, secrets: dict | None = None
) -> ConnectorCredential:
    """Create or replace a tenant's credential; ``secrets`` are encrypted before they are stored."""
    row, _ = ConnectorCredential.objects.unscoped().update_or_create(  # tenant given explicitly
        tenant=tenant,
        kind=kind,
        name=name,
        defaults={"config": config or {}, "secret_token": encrypt_json(secrets or {})},
    )
    return row


def credentials_rotate() -> int:
    """Re-encrypt every credential under the primary key; returns the number of rows rewritten."""
    count = 0
    for row in ConnectorCredential.objects.unscoped().only("pk", "secret_token").iterator():  # all tenants: key rotation
        ConnectorCredential.objects.unscoped().filter(pk=row.pk).update(secret_token=rotate_token(row.secret_token))
        count += 1
    return count
