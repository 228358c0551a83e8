"""Reads for connector credentials (scoped to the tenant in context)."""

from __future__ import annotations

from integrations.models import ConnectorCredential


def credential_get(*, kind: str, name: str | None = None) -> ConnectorCredential | None:
    """The current tenant's credential of ``kind`` (by ``name`` when given, else the first)."""
    qs = ConnectorCredential.objects.filter(kind=kind)
    if name is not None:
        qs = qs.filter(name=name)
    return qs.order_by("pk").first()
