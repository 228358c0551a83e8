"""Reads: the current tenant's warehouse connector, built from its ``warehouse_postgres`` credential."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings

from integrations.crypto import SecretDecryptError
from integrations.models import ConnectorCredential, ConnectorKind
from integrations.selectors import credential_get
from integrations.warehouse.base import WarehouseUnavailable
from integrations.warehouse.postgres import PostgresWarehouse


def app_database() -> dict[str, str]:
    """Host, port and database name of Django's default database (the test one under pytest).

    Django keeps a Unix socket directory either in ``HOST`` or, as dj-database-url writes it
    for ``?host=/path`` URLs, in ``OPTIONS["host"]``.
    """
    db = settings.DATABASES["default"]
    options = db.get("OPTIONS") or {}
    return {
        "host": str(db.get("HOST") or options.get("host") or ""),
        "port": str(db.get("PORT") or options.get("port") or ""),
        "dbname": str(db.get("NAME") or ""),
    }


_app_database = app_database  # the former private name, still imported by tests


def warehouse_location(config: Mapping[str, Any]) -> dict[str, str] | None:
    """``{"host", "port", "dbname"}`` (strings, empty when unset) of a ``warehouse_postgres``
    credential's ``config``: Django's default database with ``use_app_database: true``, else
    the configured ``host``/``port``/``dbname``; None when neither is given (no host)."""
    if config.get("use_app_database"):
        return app_database()
    if not config.get("host"):
        return None
    return {"host": str(config["host"]), "port": str(config.get("port") or ""), "dbname": str(config.get("dbname") or "")}


def warehouse_from_credential(
    credential: ConnectorCredential, *, allowed_tables: Iterable[str] = (), secrets: Mapping[str, Any] | None = None
) -> PostgresWarehouse:
    """The :class:`PostgresWarehouse` one ``warehouse_postgres`` credential describes (any
    tenant: the row is given explicitly), exposing only ``allowed_tables``.

    ``config``: ``schema`` and ``user`` (required); ``host``, ``port``, ``dbname``, or
    ``use_app_database: true`` (see :func:`warehouse_location`). ``secrets``: ``password`` (may
    be absent under trust authentication); pass ``secrets`` when already decrypted. Statement
    timeout (ms) and row cap come from ``settings.WAREHOUSE_STATEMENT_TIMEOUT_MS`` and
    ``settings.WAREHOUSE_DEFAULT_LIMIT``.

    Raises:
        WarehouseUnavailable: a required config key is missing or the secrets cannot be
            decrypted (the message names the key, never a secret).
    """
    config: Mapping[str, Any] = credential.config or {}
    for key in ("schema", "user"):
        if not config.get(key):
            raise WarehouseUnavailable(f"the warehouse connector is missing config key {key!r}")
    if secrets is None:
        try:
            secrets = credential.secrets()
        except SecretDecryptError:
            raise WarehouseUnavailable("the warehouse connector's secrets cannot be decrypted") from None
    location = warehouse_location(config)
    if location is None:
        raise WarehouseUnavailable("the warehouse connector is missing config key 'host'")
    return PostgresWarehouse(
        conninfo={**location, "user": str(config["user"]), "password": str(secrets.get("password") or "")},
        schema=str(config["schema"]),
        allowed_tables=allowed_tables,
        statement_timeout_ms=settings.WAREHOUSE_STATEMENT_TIMEOUT_MS,
        default_limit=settings.WAREHOUSE_DEFAULT_LIMIT,
    )


def warehouse_for_tenant(*, allowed_tables: Iterable[str]) -> PostgresWarehouse:
    """The current tenant's warehouse, exposing only ``allowed_tables``: its ``warehouse_postgres``
    credential named ``default`` (scoped to the tenant in context), built by
    :func:`warehouse_from_credential` (config, secrets, timeouts described there).

    Raises:
        WarehouseUnavailable: no credential for this tenant, a required config key is missing,
            or the secrets cannot be decrypted.
        tenants.context.TenantNotSet: no tenant in context.
    """
    credential = credential_get(kind=ConnectorKind.WAREHOUSE_POSTGRES, name="default")
    if credential is None:
        raise WarehouseUnavailable("no warehouse connector is configured for this tenant")
    return warehouse_from_credential(credential, allowed_tables=allowed_tables)
