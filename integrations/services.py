"""Writes for connector credentials, and the Slack event dedupe claim."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from integrations.crypto import encrypt_json, rotate_token
from integrations.models import ConnectorCredential, SlackEvent
from tenants.models import Tenant


def credential_set(
    *, tenant: Tenant, kind: str, name: str = "default", config: dict | None = None, secrets: dict | None = None
) -> ConnectorCredential:
    """Create or replace a tenant's credential; ``secrets`` are encrypted before they are stored."""
    row, _ = ConnectorCredential.objects.for_tenant(tenant).update_or_create(
        tenant=tenant,
        kind=kind,
        name=name,
        defaults={"config": config or {}, "secret_token": encrypt_json(secrets or {})},
    )
    return row


def credential_save(
    *,
    tenant: Tenant,
    kind: str,
    name: str,
    config: dict[str, Any],
    secret_updates: Mapping[str, str | None],
    credential_id: int | None = None,
) -> ConnectorCredential:
    """Create or change one credential of ``tenant``, merging secrets.

    ``config`` replaces the stored config (validate it first: ``integrations.forms.clean_config``).
    ``secret_updates`` maps a secret key to its new value, or to None to remove it; stored keys
    not named are kept. With ``credential_id`` that row is changed (its name may change; it must
    belong to ``tenant``, else ``ConnectorCredential.DoesNotExist``); without, the row is found by
    ``(tenant, kind, name)`` or created. Secrets are encrypted before they are stored.

    Raises ``integrations.crypto.SecretDecryptError`` when the stored secrets cannot be decrypted
    (nothing is written: delete the row and set it again, or restore the old key).
    """
    rows = ConnectorCredential.objects.for_tenant(tenant)
    with transaction.atomic():
        if credential_id is not None:
            row = rows.select_for_update().get(pk=credential_id, kind=kind)
        else:
            row = rows.select_for_update().filter(kind=kind, name=name).first()
            if row is None:
                row = ConnectorCredential(tenant=tenant, kind=kind, name=name)
        secrets = row.secrets() if row.secret_token else {}
        for key, value in secret_updates.items():
            if value is None:
                secrets.pop(key, None)
            else:
                secrets[key] = value
        row.name = name
        row.config = dict(config)
        row.secret_token = encrypt_json(secrets)
        row.save()
    return row


def credentials_rotate() -> int:
    """Re-encrypt every credential under the primary key; returns the number of rows rewritten."""
    count = 0
    for row in ConnectorCredential.objects.unscoped().only("pk", "tenant_id", "secret_token", "previous_secret_token").iterator():  # all tenants: key rotation
        ConnectorCredential.objects.for_tenant(row.tenant_id).filter(pk=row.pk).update(
            secret_token=rotate_token(row.secret_token), previous_secret_token=rotate_token(row.previous_secret_token)  # the rotation window's set too
        )
        count += 1
    return count


def slack_event_claim(*, tenant_id: int, event_id: str, event_type: str) -> bool:
    """Record the Slack ``event_id`` of tenant ``tenant_id`` as accepted; False when it already was.

    One ``INSERT … ON CONFLICT ON CONSTRAINT uniq_slack_event DO NOTHING RETURNING id`` (one round
    trip, no savepoint): the unique ``(tenant, event_id)`` constraint, not a read-then-write check,
    is the dedupe, so of two concurrent deliveries of one event exactly one gets True (DESIGN.md §5).
    It runs in the caller's transaction, if any, so a later failure in it rolls the claim back.
    ``event_id`` must be at most 64 characters (the caller checks); ``event_type`` is cut to 64.
    Raw SQL because the ORM cannot report whether an ignored-conflict insert wrote a row; this is
    the Slack ack's hot path (issue 10: ``benchmarks.slack_ack``).
    """
    meta = SlackEvent._meta
    quote = connection.ops.quote_name
    columns = ", ".join(quote(meta.get_field(name).column) for name in ("tenant", "event_id", "event_type", "received_at"))
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES (%s, %s, %s, %s) "
        f"ON CONFLICT ON CONSTRAINT uniq_slack_event DO NOTHING RETURNING {quote(meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [tenant_id, event_id, event_type[:64], timezone.now()])
        return cursor.fetchone() is not None
