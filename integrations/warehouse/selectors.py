"""Reads: the current tenant's warehouse connector, built from its warehouse credential.

The credential's kind chooses the engine (:data:`WAREHOUSE_KINDS`): ``warehouse_postgres`` gives a
:class:`~integrations.warehouse.postgres.PostgresWarehouse`, ``warehouse_duckdb`` a
:class:`~integrations.warehouse.duckdb_engine.DuckDBWarehouse` over the tenant's own file. Both
satisfy :class:`~integrations.warehouse.base.WarehouseConnector`; ``connector.dialect`` is the
sqlglot dialect the semantic compiler writes for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings

from integrations.crypto import SecretDecryptError
from integrations.health import connector_record
from integrations.models import ConnectorCredential, ConnectorKind
from integrations.selectors import credential_get
from integrations.warehouse.base import WarehouseConnector, WarehouseError, WarehouseQueryError, WarehouseUnavailable
from integrations.warehouse.duckdb_engine import DuckDBWarehouse, duckdb_path_for
from integrations.warehouse.firebolt_engine import DEFAULT_API_ENDPOINT, DEFAULT_SCHEMA, FireboltWarehouse
from integrations.warehouse.introspect import SchemaInfo, schema_introspect
from integrations.warehouse.postgres import PostgresWarehouse

#: Connector kinds that are a tenant's warehouse, in the order :func:`warehouse_for_tenant` looks
#: for a ``default`` credential (a tenant holding both uses PostgreSQL).
WAREHOUSE_KINDS: tuple[str, ...] = (ConnectorKind.WAREHOUSE_POSTGRES, ConnectorKind.WAREHOUSE_DUCKDB, ConnectorKind.WAREHOUSE_FIREBOLT)
#: kind -> the sqlglot dialect of its engine (Firebolt: PostgreSQL, see firebolt_engine's notes).
WAREHOUSE_DIALECTS: dict[str, str] = {
    ConnectorKind.WAREHOUSE_POSTGRES: "postgres", ConnectorKind.WAREHOUSE_DUCKDB: "duckdb", ConnectorKind.WAREHOUSE_FIREBOLT: "postgres",
}


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
) -> WarehouseConnector:
    """The connector one warehouse credential describes (any tenant: the row is given
    explicitly), exposing only ``allowed_tables``.

    ``warehouse_duckdb``: the tenant's file :func:`~integrations.warehouse.duckdb_engine.duckdb_path_for`
    (from the credential's tenant slug, never from config) and ``config["schema"]`` (default
    ``main``); no secrets.

    ``warehouse_firebolt``: see :func:`firebolt_from_credential`.

    ``warehouse_postgres``: a :class:`PostgresWarehouse`, as follows.

    ``config``: ``schema`` and ``user`` (required); ``host``, ``port``, ``dbname``, or
    ``use_app_database: true`` (see :func:`warehouse_location`). ``secrets``: ``password`` (may
    be absent under trust authentication); pass ``secrets`` when already decrypted. Statement
    timeout (ms) and row cap come from ``settings.WAREHOUSE_STATEMENT_TIMEOUT_MS`` and
    ``settings.WAREHOUSE_DEFAULT_LIMIT``.

    Raises:
        WarehouseUnavailable: a required config key is missing or the secrets cannot be
            decrypted (the message names the key, never a secret), or the kind is not a warehouse.
    """
    config: Mapping[str, Any] = credential.config or {}
    if credential.kind == ConnectorKind.WAREHOUSE_DUCKDB:
        try:
            return DuckDBWarehouse(
                path=duckdb_path_for(credential.tenant.slug),
                schema=str(config.get("schema") or "main"),
                allowed_tables=allowed_tables,
                statement_timeout_ms=settings.WAREHOUSE_STATEMENT_TIMEOUT_MS,
                default_limit=settings.WAREHOUSE_DEFAULT_LIMIT,
            )
        except ValueError as exc:
            raise WarehouseUnavailable(f"the DuckDB warehouse connector is misconfigured: {exc}") from None
    if credential.kind == ConnectorKind.WAREHOUSE_FIREBOLT:
        return firebolt_from_credential(credential, allowed_tables=allowed_tables, secrets=secrets)
    if credential.kind != ConnectorKind.WAREHOUSE_POSTGRES:
        raise WarehouseUnavailable(f"a {credential.kind} connector is not a warehouse")
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


def firebolt_from_credential(
    credential: ConnectorCredential, *, allowed_tables: Iterable[str] = (), secrets: Mapping[str, Any] | None = None
) -> WarehouseConnector:
    """The :class:`~integrations.warehouse.firebolt_engine.FireboltWarehouse` of a
    ``warehouse_firebolt`` credential: ``config`` ``account_name``, ``engine_name``, ``database``
    (required), ``schema`` (default ``public``), ``api_endpoint`` (default Firebolt's); secrets
    ``client_id`` and ``client_secret`` (a service account). Timeout and row cap as for
    PostgreSQL.

    Raises:
        WarehouseUnavailable: a required key is missing or malformed, or the secrets cannot be
            decrypted (the message names the key, never a secret).
    """
    config: Mapping[str, Any] = credential.config or {}
    for key in ("account_name", "engine_name", "database"):
        if not config.get(key):
            raise WarehouseUnavailable(f"the Firebolt warehouse connector is missing config key {key!r}")
    if secrets is None:
        try:
            secrets = credential.secrets()
        except SecretDecryptError:
            raise WarehouseUnavailable("the warehouse connector's secrets cannot be decrypted") from None
    for key in ("client_id", "client_secret"):
        if not secrets.get(key):
            raise WarehouseUnavailable(f"the Firebolt warehouse connector is missing secret {key!r}")
    try:
        return FireboltWarehouse(
            client_id=str(secrets["client_id"]),
            client_secret=str(secrets["client_secret"]),
            account_name=str(config["account_name"]),
            engine_name=str(config["engine_name"]),
            database=str(config["database"]),
            schema=str(config.get("schema") or DEFAULT_SCHEMA),
            api_endpoint=str(config.get("api_endpoint") or DEFAULT_API_ENDPOINT),
            allowed_tables=allowed_tables,
            statement_timeout_ms=settings.WAREHOUSE_STATEMENT_TIMEOUT_MS,
            default_limit=settings.WAREHOUSE_DEFAULT_LIMIT,
        )
    except ValueError as exc:
        raise WarehouseUnavailable(f"the Firebolt warehouse connector is misconfigured: {exc}") from None


def warehouse_credential_for_tenant() -> ConnectorCredential | None:
    """The current tenant's warehouse credential: the first ``default`` credential of the kinds
    in :data:`WAREHOUSE_KINDS`, or None.

    Raises:
        tenants.context.TenantNotSet: no tenant in context.
    """
    for kind in WAREHOUSE_KINDS:
        credential = credential_get(kind=kind, name="default")
        if credential is not None:
            return credential
    return None


#: How every engine's timeout message starts (``statement timed out after N ms``; see
#: :class:`~integrations.warehouse.base.WarehouseQueryError`).
TIMEOUT_MESSAGE_PREFIX = "statement timed out"


def warehouse_error_is_connector_failure(error: WarehouseError) -> bool:
    """Whether ``error`` counts against the warehouse connector's health (issue 12, credential
    lifecycle): True for :class:`WarehouseUnavailable` (cannot connect, refused login,
    misconfigured credential) and for a statement timeout (a :class:`WarehouseQueryError` whose
    message starts with :data:`TIMEOUT_MESSAGE_PREFIX`); False for a guard refusal
    (:class:`~integrations.warehouse.base.UnsafeSQL`) and any other statement error, which the SQL
    caused, not the connector."""
    if isinstance(error, WarehouseUnavailable):
        return True
    return isinstance(error, WarehouseQueryError) and str(error).startswith(TIMEOUT_MESSAGE_PREFIX)


def warehouse_outcome_record(*, error: WarehouseError | None = None) -> None:
    """Record one warehouse call's outcome on the current tenant's warehouse credential
    (:func:`warehouse_credential_for_tenant`) through :func:`integrations.health.connector_record`:
    ``error`` None is a success (resets the failures in a row); an error counts as a failure only
    when :func:`warehouse_error_is_connector_failure` says so (a bad SQL statement records
    nothing). Does nothing when the tenant has no warehouse credential.

    Raises:
        tenants.context.TenantNotSet: no tenant in context.
    """
    if error is not None and not warehouse_error_is_connector_failure(error):
        return
    credential = warehouse_credential_for_tenant()
    if credential is not None:
        connector_record(credential, ok=error is None, error=str(error or ""))


def warehouse_dialect_for_tenant() -> str | None:
    """The sqlglot dialect of the current tenant's warehouse (``postgres`` / ``duckdb``), or None
    when it has none."""
    credential = warehouse_credential_for_tenant()
    return WAREHOUSE_DIALECTS.get(credential.kind) if credential is not None else None


def warehouse_for_tenant(*, allowed_tables: Iterable[str]) -> WarehouseConnector:
    """The current tenant's warehouse, exposing only ``allowed_tables``: its warehouse credential
    named ``default`` (:func:`warehouse_credential_for_tenant`, scoped to the tenant in context),
    built by :func:`warehouse_from_credential` (config, secrets, timeouts described there).

    Raises:
        WarehouseUnavailable: no credential for this tenant, a required config key is missing,
            or the secrets cannot be decrypted.
        tenants.context.TenantNotSet: no tenant in context.
    """
    credential = warehouse_credential_for_tenant()
    if credential is None:
        raise WarehouseUnavailable("no warehouse connector is configured for this tenant")
    return warehouse_from_credential(credential, allowed_tables=allowed_tables)


def tenant_schema_introspect(**kwargs: Any) -> SchemaInfo:
    """:func:`integrations.warehouse.introspect.schema_introspect` over the current tenant's warehouse (its ``warehouse_postgres``
    credential, see :func:`warehouse_for_tenant`).

    Raises:
        WarehouseUnavailable: no credential, or the warehouse cannot be reached.
        tenants.context.TenantNotSet: no tenant in context.
    """
    return schema_introspect(warehouse_for_tenant(allowed_tables=()), **kwargs)
