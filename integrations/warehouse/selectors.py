"""Reads: the current tenant's warehouse connector, built from its ``warehouse_postgres`` credential."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings

from integrations.crypto import SecretDecryptError
from integrations.models import ConnectorKind
from integrations.selectors import credential_get
from integrations.warehouse.base import WarehouseUnavailable
from integrations.warehouse.postgres import PostgresWarehouse


def _app_database() -> dict[str, str]:
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


def warehouse_for_tenant(*, allowed_tables: Iterable[str]) -> PostgresWarehouse:
    """The current tenant's warehouse, exposing only ``allowed_tables``.

    Reads the tenant's ``warehouse_postgres`` credential (scoped to the tenant in context):

    - ``config``: ``schema`` and ``user`` (required); ``host``, ``port``, ``dbname``; or
      ``use_app_database: true`` to take host, port and database name from
      ``settings.DATABASES["default"]``, so one credential works for the dev database and for
      pytest's test database;
    - ``secrets``: ``password`` (may be absent under trust authentication).

    Statement timeout and row cap come from ``settings.WAREHOUSE_STATEMENT_TIMEOUT_MS`` (ms) and
    ``settings.WAREHOUSE_DEFAULT_LIMIT`` (rows).

    Raises:
        WarehouseUnavailable: no credential for this tenant, a required config key is missing,
            or the secrets cannot be decrypted.
        tenants.context.TenantNotSet: no tenant in context.
    """
    credential = credential_get(kind=ConnectorKind.WAREHOUSE_POSTGRES, name="default")
    if credential is None:
        raise WarehouseUnavailable("no warehouse connector is configured for this tenant")
    config: dict[str, Any] = credential.config or {}
    for key in ("schema", "user"):
        if not config.get(key):
            raise WarehouseUnavailable(f"the warehouse connector is missing config key {key!r}")
    try:
        secrets = credential.secrets()
    except SecretDecryptError:
        raise WarehouseUnavailable("the warehouse connector's secrets cannot be decrypted") from None
    if config.get("use_app_database"):
        location = _app_database()
    else:
        if not config.get("host"):
            raise WarehouseUnavailable("the warehouse connector is missing config key 'host'")
        location = {
            "host": str(config.get("host")),
            "port": str(config.get("port") or ""),
            "dbname": str(config.get("dbname") or ""),
        }
    return PostgresWarehouse(
        conninfo={**location, "user": config["user"], "password": secrets.get("password") or ""},
        schema=config["schema"],
        allowed_tables=allowed_tables,
        statement_timeout_ms=settings.WAREHOUSE_STATEMENT_TIMEOUT_MS,
        default_limit=settings.WAREHOUSE_DEFAULT_LIMIT,
    )
