"""Incremental Salesforce sync into the tenant's warehouse schema (issue 12, part 2).

For each object of :data:`SYNC_OBJECTS` (Opportunity, Account, User, Contact,
OpportunityContactRole, Task, Event) one SOQL query through simple-salesforce::

    SELECT <fields>, SystemModstamp[, IsDeleted] FROM <Object>
    WHERE SystemModstamp >= <watermark> ORDER BY SystemModstamp ASC, Id ASC

sent to ``queryAll`` (``include_deleted=True``), so records deleted since the watermark come back
with ``IsDeleted = true`` (Salesforce REST API Developer Guide, "QueryAll": deleted and archived
records are included; a deletion updates ``SystemModstamp``). ``User`` has no ``IsDeleted``
(users are deactivated, never deleted). Each page (``nextRecordsUrl``) is one batch, written in
one database transaction together with the new watermark (the greatest ``SystemModstamp`` of
the batch, kept in :class:`integrations.models.SyncState`): a failure keeps every committed
batch and the next run resumes from the last one.

``>=`` rather than ``>``: records sharing the watermark's exact timestamp that the last run did
not reach are not skipped. The re-read rows are upserted with ``... WHERE (row) IS DISTINCT FROM
(new row)``, so unchanged rows are neither rewritten nor counted: ``rows_upserted`` counts rows
inserted or changed, ``rows_deleted`` rows deleted.

Tables: ``sf_<object in snake_case>`` (:data:`SYNC_OBJECTS`), one typed column per synced
standard field, ``id`` the primary key, created on first use and widened with ``ADD COLUMN IF
NOT EXISTS``, readable by the tenant's read-only reader role. The schema is the tenant's
``warehouse_postgres`` credential's when it lives in the product's own database
(``use_app_database``); a tenant without a warehouse gets one (schema ``wh_t<tenant id>_<slug>``, a reader
role, and the credential). An external warehouse is refused with a clear message: the sync
writes only where the product owns the database.

``--full`` ignores the watermark, reads every live record (``query``) and, once every page of an
object is committed, deletes the rows Salesforce no longer returned.

Errors (:class:`SalesforceSyncError`, message safe to show; recorded on the object's
``SyncState``): wrong credentials, unreachable or slow host (per-request timeout from the
credential's ``timeout_seconds``, default 15 s), 5xx (retried twice, then reported), malformed
responses, ``REQUEST_LIMIT_EXCEEDED`` / 429. A 401 ``INVALID_SESSION_ID`` renews the token once
(:mod:`integrations.salesforce.auth`).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets as pysecrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from psycopg import sql as pg_sql
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from integrations.health import connector_record, error_redact
from integrations.models import ConnectorCredential, ConnectorKind, SyncSource, SyncState, SyncStatus
from integrations.outbound import outbound_allowlist_get, outbound_check
from integrations.salesforce.auth import (
    SalesforceAuthError,
    SalesforceOAuth,
    salesforce_oauth_get,
    salesforce_token_request,
    salesforce_token_store,
)
from integrations.salesforce.client import SALESFORCE_TIMEOUT_SECONDS
from integrations.services import credential_set
from integrations.warehouse.loader import reader_role_name
from integrations.warehouse.roles import check_identifier, login_role_upsert, tenant_schema_name
from revops.lib.urls import UnsafeURL

logger = logging.getLogger(__name__)

#: A sync stream left "running" longer than this is taken over by the next run (a killed worker).
RUNNING_LEASE = dt.timedelta(hours=2)
#: Attempts per Salesforce request for 5xx, timeouts and connection errors (then reported).
REQUEST_ATTEMPTS = 3


class SalesforceSyncError(Exception):
    """The sync could not finish; the message says why and never holds a secret. ``connector``
    is False when the fault is on our side (the warehouse), not Salesforce's or the credential's."""

    def __init__(self, message: str, *, connector: bool = True):
        super().__init__(message)
        self.connector = connector


@dataclass(frozen=True)
class SyncField:
    """One synced standard field: Salesforce API name, warehouse column, PostgreSQL type
    (``text``, ``numeric``, ``integer``, ``boolean``, ``date``, ``timestamptz``)."""

    api_name: str
    column: str
    pg_type: str = "text"


@dataclass(frozen=True)
class SyncObject:
    """A Salesforce object and its warehouse table; ``deletable``: has ``IsDeleted``."""

    api_name: str
    table: str
    fields: tuple[SyncField, ...]
    deletable: bool = True

    def soql(self, *, since: dt.datetime | None) -> str:
        """The SOQL of one run (see the module docstring)."""
        names = [f.api_name for f in self.fields] + (["IsDeleted"] if self.deletable else [])
        where = f" WHERE SystemModstamp >= {soql_datetime(since)}" if since is not None else ""
        return f"SELECT {', '.join(names)} FROM {self.api_name}{where} ORDER BY SystemModstamp ASC, Id ASC"


def _f(spec: str) -> tuple[SyncField, ...]:
    """``"Id Name:text Amount:numeric"`` -> fields; the column is the snake_case API name."""
    out = []
    for item in spec.split():
        name, _, pg_type = item.partition(":")
        out.append(SyncField(name, snake_case(name), pg_type or "text"))
    return tuple(out)


def snake_case(name: str) -> str:
    """Salesforce API name -> column name: ``ForecastCategoryName`` -> ``forecast_category_name``,
    ``SystemModstamp`` -> ``system_modstamp``, ``AccountId`` -> ``account_id``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


_COMMON = "CreatedDate:timestamptz SystemModstamp:timestamptz"

#: The synced objects and standard fields (Salesforce Object Reference, v59.0), in sync order.
SYNC_OBJECTS: tuple[SyncObject, ...] = (
    SyncObject("Account", "sf_account", _f(
        "Id Name Type Industry AnnualRevenue:numeric NumberOfEmployees:integer BillingCountry Website OwnerId ParentId " + _COMMON)),
    SyncObject("User", "sf_user", _f(
        "Id Name Email Title Department Division ManagerId IsActive:boolean " + _COMMON), deletable=False),
    SyncObject("Opportunity", "sf_opportunity", _f(
        "Id Name AccountId OwnerId StageName Amount:numeric CloseDate:date Probability:numeric ForecastCategoryName "
        "IsWon:boolean IsClosed:boolean Type LeadSource NextStep LastModifiedDate:timestamptz " + _COMMON)),
    SyncObject("Contact", "sf_contact", _f(
        "Id AccountId FirstName LastName Name Email Title OwnerId " + _COMMON)),
    SyncObject("OpportunityContactRole", "sf_opportunity_contact_role", _f(
        "Id OpportunityId ContactId Role IsPrimary:boolean " + _COMMON)),
    SyncObject("Task", "sf_task", _f(
        "Id Subject Status Priority Type TaskSubtype ActivityDate:date WhoId WhatId AccountId OwnerId Description " + _COMMON)),
    SyncObject("Event", "sf_event", _f(
        "Id Subject Type StartDateTime:timestamptz EndDateTime:timestamptz ActivityDate:date WhoId WhatId AccountId OwnerId "
        "Description " + _COMMON)),
)
SYNC_OBJECTS_BY_NAME = {o.api_name: o for o in SYNC_OBJECTS}


def soql_datetime(value: dt.datetime) -> str:
    """A SOQL dateTime literal in UTC, ``2025-06-30T12:00:00.000Z`` (SOQL reference, "Date
    Formats and Date Literals"); naive values are taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    value = value.astimezone(dt.timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_sf_datetime(value: str) -> dt.datetime:
    """Salesforce's ``2025-06-30T12:00:00.000+0000`` (or ``Z``) -> aware datetime.

    Raises:
        ValueError: another shape.
    """
    text = value.strip().replace("Z", "+0000")
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise ValueError(f"not a Salesforce dateTime: {value!r}")


def _cell(value: Any, pg_type: str) -> Any:
    """One JSON value as the column's Python value. Raises ValueError on a wrong shape."""
    if value is None or value == "":
        return None
    if pg_type == "text":
        return str(value)
    if pg_type == "numeric":
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        try:
            return Decimal(str(value))
        except InvalidOperation:
            raise ValueError(f"expected a number, got {value!r}") from None
    if pg_type == "integer":
        if isinstance(value, bool) or not float(value).is_integer():
            raise ValueError(f"expected an integer, got {value!r}")
        return int(float(value))
    if pg_type == "boolean":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value
    if pg_type == "date":
        return dt.date.fromisoformat(str(value))
    if pg_type == "timestamptz":
        return parse_sf_datetime(str(value))
    raise ValueError(f"unsupported column type {pg_type}")


# -- the target schema ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncTarget:
    """Where synced rows go: a schema in the product's database and its reader role."""

    schema: str
    reader_role: str




def sync_target_ensure(*, tenant) -> SyncTarget:
    """The tenant's warehouse schema to sync into, created with its reader role and
    ``warehouse_postgres`` credential when the tenant has none (schema ``wh_t<tenant id>_<slug>``; role from
    :func:`integrations.warehouse.loader.reader_role_name`; a random password kept only in the
    encrypted credential).

    Raises:
        SalesforceSyncError: the tenant's warehouse is not hosted in the product's database
            (an external host or another engine), so the sync cannot write into it.
    """
    creds = ConnectorCredential.objects.for_tenant(tenant)
    warehouse = creds.filter(kind=ConnectorKind.WAREHOUSE_POSTGRES, name="default").first()
    if warehouse is not None:
        config = warehouse.config or {}
        if not config.get("use_app_database"):
            host = str(config.get("host") or "?")
            raise SalesforceSyncError(
                f"this tenant's warehouse is an external PostgreSQL database (host {host}); the sync writes only "
                "into a warehouse schema the product hosts. Load Salesforce into that warehouse with your own "
                "pipeline, or switch the warehouse connector to the product's database"
            )
        schema, role = str(config.get("schema") or ""), str(config.get("user") or "")
        check_identifier(schema, "the warehouse connector's schema")
        check_identifier(role, "the warehouse connector's user")
        with transaction.atomic():
            connection.ensure_connection()
            with connection.connection.cursor() as cur:
                cur.execute(pg_sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(pg_sql.Identifier(schema)))
                if cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
                    cur.execute(pg_sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(pg_sql.Identifier(schema), pg_sql.Identifier(role)))
        return SyncTarget(schema, role)
    other = creds.exclude(kind__in=[ConnectorKind.WAREHOUSE_POSTGRES, ConnectorKind.SLACK, ConnectorKind.WEB_SEARCH,
                                    ConnectorKind.SALESFORCE, ConnectorKind.GONG, ConnectorKind.LLM]).filter(kind__startswith="warehouse")
    if other.exists():
        raise SalesforceSyncError(
            f"this tenant's warehouse is a {other.first().get_kind_display()} connector; the Salesforce sync writes "
            "only into a PostgreSQL schema the product hosts"
        )
    schema = tenant_schema_name(tenant.pk, tenant.slug)
    dbname = connection.settings_dict["NAME"]
    role = reader_role_name(dbname=dbname, schema=schema)
    password = pysecrets.token_urlsafe(24)
    with transaction.atomic():
        connection.ensure_connection()
        raw = connection.connection
        with raw.cursor() as cur:
            schema_id, role_id = pg_sql.Identifier(schema), pg_sql.Identifier(role)
            cur.execute(pg_sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema_id))
            login_role_upsert(raw, cur, role=role, password=password)
            cur.execute(pg_sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(role_id))
            cur.execute(pg_sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema_id, role_id))
            cur.execute(pg_sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(schema_id, role_id))
        credential_set(
            tenant=tenant,
            kind=ConnectorKind.WAREHOUSE_POSTGRES,
            config={"schema": schema, "user": role, "use_app_database": True},
            secrets={"password": password},
        )
    logger.info("created warehouse schema %s for tenant %s", schema, tenant.slug)
    return SyncTarget(schema, role)


def sync_table_ensure(cur, *, target: SyncTarget, table: str, columns: Iterable[tuple[str, str]], key: str = "id") -> None:
    """``CREATE TABLE IF NOT EXISTS <schema>.<table> (<key> text PRIMARY KEY, ...)``, add any
    missing column, and grant the reader role ``SELECT`` on it. ``cur``: a cursor on Django's
    raw connection, inside the caller's transaction. ``columns``: ``(name, pg_type)``."""
    check_identifier(table, "table")
    table_id = pg_sql.Identifier(target.schema, table)
    cols = [(c, t) for c, t in columns if c != key]
    cur.execute(pg_sql.SQL("CREATE TABLE IF NOT EXISTS {} ({} text PRIMARY KEY)").format(table_id, pg_sql.Identifier(key)))
    for name, pg_type in cols:
        check_identifier(name, "column")
        if pg_type not in ("text", "numeric", "integer", "boolean", "date", "timestamptz", "jsonb"):
            raise ValueError(f"unsupported column type {pg_type!r}")
        cur.execute(pg_sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(table_id, pg_sql.Identifier(name), pg_sql.SQL(pg_type)))
    if cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [target.reader_role]).fetchone():
        cur.execute(pg_sql.SQL("GRANT SELECT ON {} TO {}").format(table_id, pg_sql.Identifier(target.reader_role)))


def rows_upsert(cur, *, target: SyncTarget, table: str, columns: list[str], rows: Iterable[tuple], key: str = "id") -> int:
    """Insert ``rows`` into ``<schema>.<table>``, updating rows with the same ``key`` only when a
    value differs; returns how many rows were inserted or changed."""
    table_id = pg_sql.Identifier(target.schema, table)
    ids = [pg_sql.Identifier(c) for c in columns]
    others = [c for c in columns if c != key]
    statement = pg_sql.SQL(
        "INSERT INTO {t} AS cur ({cols}) VALUES ({vals}) ON CONFLICT ({key}) DO UPDATE SET {sets} "
        "WHERE ({old}) IS DISTINCT FROM ({new})"
    ).format(
        t=table_id,
        cols=pg_sql.SQL(", ").join(ids),
        vals=pg_sql.SQL(", ").join(pg_sql.Placeholder() for _ in columns),
        key=pg_sql.Identifier(key),
        sets=pg_sql.SQL(", ").join(pg_sql.SQL("{c} = EXCLUDED.{c}").format(c=pg_sql.Identifier(c)) for c in others),
        old=pg_sql.SQL(", ").join(pg_sql.SQL("cur.{}").format(pg_sql.Identifier(c)) for c in others),
        new=pg_sql.SQL(", ").join(pg_sql.SQL("EXCLUDED.{}").format(pg_sql.Identifier(c)) for c in others),
    )
    changed = 0
    for row in rows:
        cur.execute(statement, row)
        changed += cur.rowcount
    return changed


def rows_delete(cur, *, target: SyncTarget, table: str, ids: list[str], key: str = "id") -> int:
    """Delete the rows whose ``key`` is in ``ids``; returns how many existed."""
    if not ids:
        return 0
    cur.execute(
        pg_sql.SQL("DELETE FROM {} WHERE {} = ANY(%s)").format(pg_sql.Identifier(target.schema, table), pg_sql.Identifier(key)), [ids]
    )
    return cur.rowcount


def rows_keep_only(cur, *, target: SyncTarget, table: str, ids: list[str], key: str = "id") -> int:
    """Delete every row whose ``key`` is not in ``ids`` (the full sync's sweep); returns how many."""
    cur.execute(
        pg_sql.SQL("DELETE FROM {} WHERE NOT ({} = ANY(%s))").format(pg_sql.Identifier(target.schema, table), pg_sql.Identifier(key)), [ids]
    )
    return cur.rowcount


# -- sync state --------------------------------------------------------------------------------------


def sync_state_claim(*, tenant, source: str, stream: str, table: str) -> SyncState:
    """The stream's :class:`SyncState`, claimed for this run with a conditional UPDATE (status
    ``running``). Raises SalesforceSyncError when another run holds it (younger than
    :data:`RUNNING_LEASE`)."""
    states = SyncState.objects.for_tenant(tenant)
    states.get_or_create(tenant=tenant, source=source, stream=stream, defaults={"table": table})
    now = timezone.now()
    claimed = states.filter(source=source, stream=stream).filter(
        ~Q(status=SyncStatus.RUNNING) | Q(last_run_at__lt=now - RUNNING_LEASE) | Q(last_run_at__isnull=True)
    ).update(status=SyncStatus.RUNNING, last_run_at=now, rows_upserted=0, rows_deleted=0, table=table)
    if not claimed:
        raise SalesforceSyncError(f"a {source} sync of {stream} is already running for this tenant")
    return states.get(source=source, stream=stream)


def sync_error_redact(tenant_id: int, source: str, message: str) -> str:
    """``message`` with every secret of the tenant's ``source`` connectors (Salesforce or Gong:
    the connector kinds share the sync source's value) masked, as the connector's own last error
    is (:func:`integrations.health.error_redact`): the sync state is shown to every member."""
    for credential in ConnectorCredential.objects.for_tenant(tenant_id).filter(kind=source):
        message = error_redact(credential, message)
    return message[:2000]


def sync_state_fail(state: SyncState, message: str) -> None:
    """Record a failed run (the watermark stays at the last committed batch); secrets masked."""
    SyncState.objects.for_tenant(state.tenant_id).filter(pk=state.pk).update(
        status=SyncStatus.FAILED, last_error=sync_error_redact(state.tenant_id, state.source, message), updated_at=timezone.now()
    )


# -- Salesforce calls --------------------------------------------------------------------------------


class _TimedSession(requests.Session):
    """Every request with a timeout (seconds) and no redirects (simple-salesforce sets neither)."""

    def __init__(self, timeout: float):
        super().__init__()
        self._timeout = timeout
        self.trust_env = False

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        """``requests.Session.request`` with the connector's timeout (seconds) and no redirects
        unless the caller sets them: a redirect could carry the bearer token elsewhere."""
        kwargs.setdefault("timeout", self._timeout)
        kwargs.setdefault("allow_redirects", False)
        return super().request(method, url, *args, **kwargs)


def _error_code(exc: SalesforceError) -> str:
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode") or "")
    if isinstance(content, dict):
        return str(content.get("errorCode") or content.get("error") or "")
    return ""


def _error_message(exc: SalesforceError) -> str:
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("message") or "")[:200]
    return ""


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return True
    return isinstance(exc, SalesforceError) and getattr(exc, "status", 0) in (500, 502, 503, 504)


class SalesforceReader:
    """A simple-salesforce client for one tenant's sync that renews its token once on 401 and
    retries 5xx / timeouts / connection errors (:data:`REQUEST_ATTEMPTS` attempts, 0.2-1 s
    apart), turning every failure into :class:`SalesforceSyncError`.

    Args:
        tenant: the tenant (its ``salesforce`` credential is read and, on renewal, updated).
        wait: seconds multiplier of the retry back-off (tests pass 0).
    """

    def __init__(self, *, tenant, wait: float = 1.0):
        self.tenant = tenant
        self.wait = wait
        try:
            self.oauth: SalesforceOAuth = salesforce_oauth_get(tenant=tenant)
        except SalesforceAuthError as exc:
            raise SalesforceSyncError(str(exc)) from None
        credential = ConnectorCredential.objects.for_tenant(tenant).get(pk=self.oauth.credential_id)
        try:
            self.timeout = min(max(float((credential.config or {}).get("timeout_seconds") or SALESFORCE_TIMEOUT_SECONDS), 0.1), 120.0)
        except (TypeError, ValueError):
            self.timeout = float(SALESFORCE_TIMEOUT_SECONDS)
        self.renewed = False
        self._client: Salesforce | None = None
        if not self.oauth.access_token:
            self._renew()

    @property
    def host(self) -> str:
        """The Salesforce instance's host (``acme.my.salesforce.com``), for error messages."""
        return urlsplit(self.oauth.instance_url).netloc or self.oauth.instance_url

    def _guard(self, url: str, what: str) -> None:
        """The outbound SSRF guard of "Test connection" and action delivery (DESIGN.md §5) on a
        URL the sync is about to call or store. Raises SalesforceSyncError when refused."""
        try:
            outbound_check(url, allowlist=outbound_allowlist_get(tenant=self.tenant))
        except UnsafeURL as exc:
            raise SalesforceSyncError(f"the Salesforce {what} was refused: {exc}") from None

    def _renew(self) -> None:
        self._guard(self.oauth.login_url, "login URL")
        try:
            token, instance_url = salesforce_token_request(self.oauth)
        except SalesforceAuthError as exc:
            raise SalesforceSyncError(str(exc)) from None
        self._guard(instance_url, "instance URL in the token answer")  # before it is stored and used
        self.oauth = salesforce_token_store(tenant=self.tenant, oauth=self.oauth, access_token=token, instance_url=instance_url)
        self.renewed = True
        self._client = None

    def client(self) -> Salesforce:
        """The simple-salesforce client for the current token."""
        if self._client is None:
            self._guard(self.oauth.instance_url, "instance URL")
            session = _TimedSession(self.timeout)
            session.verify = getattr(settings, "SALESFORCE_CA_BUNDLE", None) or True
            parts = urlsplit(self.oauth.instance_url)
            self._client = Salesforce(
                instance_url=f"https://{parts.netloc}", session_id=self.oauth.access_token, version=self.oauth.api_version, session=session
            )
        return self._client

    def call(self, fn: Callable[[Salesforce], dict], *, what: str) -> dict:
        """Run ``fn(client)``, renewing the token once on 401 and retrying transient failures.

        Returns:
            the query result dict (``records``, ``done``, ``nextRecordsUrl``).

        Raises:
            SalesforceSyncError: with a message naming the host and the cause.
        """
        renewed_here = False
        while True:
            try:
                for attempt in Retrying(
                    stop=stop_after_attempt(REQUEST_ATTEMPTS),
                    wait=wait_exponential(multiplier=0.2 * self.wait, max=1.0 * self.wait),
                    retry=retry_if_exception(_transient),
                    reraise=True,
                ):
                    with attempt:
                        result = fn(self.client())
                if not isinstance(result, dict) or not isinstance(result.get("records"), list):
                    raise SalesforceSyncError(f"Salesforce at {self.host} answered {what} without a 'records' list")
                return result
            except SalesforceExpiredSession:
                if renewed_here:
                    raise SalesforceSyncError(f"Salesforce at {self.host} rejected the session (INVALID_SESSION_ID) even after a token renewal") from None
                if self.oauth.flow == "access_token":
                    raise SalesforceSyncError(
                        f"Salesforce at {self.host} rejected the access token (INVALID_SESSION_ID) and the connector has no "
                        "refresh token or JWT key to renew it"
                    ) from None
                self._renew()
                renewed_here = True
            except SalesforceError as exc:
                code, status = _error_code(exc), getattr(exc, "status", 0)
                if code == "REQUEST_LIMIT_EXCEEDED" or status == 429:
                    raise SalesforceSyncError(
                        f"Salesforce at {self.host} refused {what}: API request limit exceeded ({code or 'HTTP 429'}); "
                        "the next run resumes from the last committed batch"
                    ) from None
                detail = f"{code}: {_error_message(exc)}".strip(": ") or "no detail"
                raise SalesforceSyncError(f"Salesforce at {self.host} answered {what} with HTTP {status} ({detail})") from None
            except requests.Timeout:
                raise SalesforceSyncError(f"Salesforce at {self.host} did not answer {what} within {self.timeout:g} s ({REQUEST_ATTEMPTS} attempts)") from None
            except requests.ConnectionError:
                raise SalesforceSyncError(f"cannot reach Salesforce at {self.host} ({REQUEST_ATTEMPTS} attempts)") from None
            except ValueError:  # requests' JSONDecodeError
                raise SalesforceSyncError(f"Salesforce at {self.host} answered {what} with a response that is not valid JSON") from None

    def pages(self, soql: str, *, include_deleted: bool, what: str) -> Iterator[list[dict]]:
        """The records of ``soql``, one page (``nextRecordsUrl``) at a time."""
        result = self.call(lambda sf: sf.query(soql, include_deleted=include_deleted), what=what)
        while True:
            yield result["records"]
            next_url = result.get("nextRecordsUrl")
            if result.get("done", True) or not next_url:
                return
            result = self.call(lambda sf: sf.query_more(next_url, identifier_is_url=True, include_deleted=include_deleted), what=what)


# -- the sync ----------------------------------------------------------------------------------------


@dataclass
class ObjectReport:
    """One object's run: rows read, inserted or changed, deleted, pages committed, error."""

    object: str
    table: str
    fetched: int = 0
    upserted: int = 0
    deleted: int = 0
    batches: int = 0
    watermark: dt.datetime | None = None
    error: str = ""


@dataclass
class SyncReport:
    """The whole run: the target schema and one :class:`ObjectReport` per object attempted."""

    schema: str
    objects: list[ObjectReport] = field(default_factory=list)
    error: str = ""
    target: SyncTarget | None = None

    @property
    def ok(self) -> bool:
        """True when the sync ended without an error."""
        return not self.error


def _record(obj: SyncObject, raw: dict) -> tuple:
    values = []
    for f in obj.fields:
        try:
            values.append(_cell(raw.get(f.api_name), f.pg_type))
        except (ValueError, TypeError) as exc:
            raise SalesforceSyncError(f"{obj.api_name} {raw.get('Id')!r}: field {f.api_name}: {exc}") from None
    return tuple(values)


def _object_sync(reader: SalesforceReader, *, tenant, target: SyncTarget, obj: SyncObject, full: bool) -> ObjectReport:
    report = ObjectReport(obj.api_name, obj.table)
    state = sync_state_claim(tenant=tenant, source=SyncSource.SALESFORCE, stream=obj.api_name, table=obj.table)
    columns = [f.column for f in obj.fields]
    since = None if full else state.watermark
    report.watermark = state.watermark
    seen: list[str] = []
    try:
        with transaction.atomic():
            connection.ensure_connection()
            with connection.connection.cursor() as cur:
                sync_table_ensure(cur, target=target, table=obj.table, columns=[(f.column, f.pg_type) for f in obj.fields])
        include_deleted = obj.deletable and not full
        for page in reader.pages(obj.soql(since=since), include_deleted=include_deleted, what=f"the {obj.api_name} query"):
            live, gone, stamps = [], [], []
            for raw in page:
                if not isinstance(raw, dict) or not raw.get("Id"):
                    raise SalesforceSyncError(f"Salesforce at {reader.host} returned a {obj.api_name} record without an Id")
                try:
                    stamps.append(parse_sf_datetime(str(raw.get("SystemModstamp") or "")))
                except ValueError as exc:
                    raise SalesforceSyncError(f"{obj.api_name} {raw['Id']!r}: {exc}") from None
                if raw.get("IsDeleted") is True:
                    gone.append(str(raw["Id"]))
                else:
                    live.append(_record(obj, raw))
                    seen.append(str(raw["Id"]))
            with transaction.atomic():
                with connection.connection.cursor() as cur:
                    upserted = rows_upsert(cur, target=target, table=obj.table, columns=columns, rows=live)
                    deleted = rows_delete(cur, target=target, table=obj.table, ids=gone)
                report.fetched += len(page)
                report.upserted += upserted
                report.deleted += deleted
                report.batches += 1
                if stamps:
                    report.watermark = max([s for s in (report.watermark, *stamps) if s is not None])
                SyncState.objects.for_tenant(tenant).filter(pk=state.pk).update(
                    watermark=report.watermark, rows_upserted=report.upserted, rows_deleted=report.deleted, updated_at=timezone.now()
                )
        if full:
            with transaction.atomic():
                with connection.connection.cursor() as cur:
                    report.deleted += rows_keep_only(cur, target=target, table=obj.table, ids=seen)
    except SalesforceSyncError as exc:
        report.error = str(exc)
        sync_state_fail(state, report.error)
        raise
    except Exception as exc:  # a database error: recorded, not shown raw (it may quote values)
        report.error = f"the {obj.api_name} batch could not be written to schema {target.schema} ({type(exc).__name__})"
        logger.exception("salesforce sync of %s failed for tenant %s", obj.api_name, tenant.slug)
        sync_state_fail(state, report.error)
        raise SalesforceSyncError(report.error, connector=False) from exc
    now = timezone.now()
    SyncState.objects.for_tenant(tenant).filter(pk=state.pk).update(
        status=SyncStatus.SUCCEEDED, last_success_at=now, last_error="", rows_upserted=report.upserted, rows_deleted=report.deleted,
        watermark=report.watermark, updated_at=now,
    )
    return report


def salesforce_sync(*, tenant, full: bool = False, objects: Iterable[str] | None = None, retry_wait: float = 1.0) -> SyncReport:
    """Sync ``objects`` (API names; default all of :data:`SYNC_OBJECTS`, in that order) of the
    tenant's Salesforce org into its warehouse schema (see the module docstring).

    Stops at the first failing object: its ``SyncState`` gets ``failed`` and the message, the
    objects after it are not attempted (their state is unchanged), and the report carries the
    error. Never raises for a Salesforce or credential problem.

    Args:
        tenant: the tenant (rows and credentials are read with ``for_tenant``).
        full: ignore the watermarks and remove rows Salesforce no longer returns.
        objects: a subset of API names (unknown names raise ValueError).
        retry_wait: back-off multiplier between retried requests (0 in tests).

    Returns:
        :class:`SyncReport`.

    Raises:
        ValueError: an unknown object name.
    """
    chosen = list(objects) if objects is not None else [o.api_name for o in SYNC_OBJECTS]
    unknown = [n for n in chosen if n not in SYNC_OBJECTS_BY_NAME]
    if unknown:
        raise ValueError(f"unknown Salesforce object(s) {', '.join(unknown)}; synced: {', '.join(SYNC_OBJECTS_BY_NAME)}")
    try:
        target = sync_target_ensure(tenant=tenant)
    except (SalesforceSyncError, ValueError) as exc:
        return _fail_all(tenant, chosen, str(exc))
    report = SyncReport(schema=target.schema, target=target)
    try:
        reader = SalesforceReader(tenant=tenant, wait=retry_wait)
    except SalesforceSyncError as exc:
        report.error = str(exc)
        _fail_all(tenant, chosen, report.error)
        credential = ConnectorCredential.objects.for_tenant(tenant).filter(kind=ConnectorKind.SALESFORCE).order_by("pk").first()
        if credential is not None:
            _connector_record(tenant, credential.pk, ok=False, error=report.error)
        return report
    for name in chosen:
        obj = SYNC_OBJECTS_BY_NAME[name]
        try:
            report.objects.append(_object_sync(reader, tenant=tenant, target=target, obj=obj, full=full))
        except SalesforceSyncError as exc:
            report.objects.append(ObjectReport(obj.api_name, obj.table, error=str(exc)))
            report.error = f"{obj.api_name}: {exc}"
            if exc.connector:
                _connector_record(tenant, reader.oauth.credential_id, ok=False, error=report.error)
            break
    else:
        _connector_record(tenant, reader.oauth.credential_id, ok=True)
    logger.info(
        "salesforce sync for tenant %s: %s", tenant.slug,
        ", ".join(f"{o.object} +{o.upserted}/-{o.deleted}" + (" failed" if o.error else "") for o in report.objects),
    )
    return report


def _connector_record(tenant, credential_id: int, *, ok: bool, error: str = "") -> None:
    """The connector's health (last success / last error, failures in a row) after a run."""
    credential = ConnectorCredential.objects.for_tenant(tenant).filter(pk=credential_id).first()
    if credential is not None:
        connector_record(credential, ok=ok, error=error)


def _fail_all(tenant, names: list[str], message: str) -> SyncReport:
    """Record ``message`` on every chosen object's state (a problem before any object ran)."""
    now = timezone.now()
    message = sync_error_redact(tenant.pk, SyncSource.SALESFORCE, message)
    for name in names:
        obj = SYNC_OBJECTS_BY_NAME[name]
        state, _ = SyncState.objects.for_tenant(tenant).get_or_create(
            tenant=tenant, source=SyncSource.SALESFORCE, stream=name, defaults={"table": obj.table}
        )
        SyncState.objects.for_tenant(tenant).filter(pk=state.pk).exclude(status=SyncStatus.RUNNING).update(
            status=SyncStatus.FAILED, last_error=message[:2000], last_run_at=now
        )
    return SyncReport(schema="", error=message)


def salesforce_stage_semantics(*, target: SyncTarget) -> list[tuple[str, bool, bool, float | None, int]]:
    """The stages the synced opportunities use, with Salesforce's own flags: ``[(stage_name,
    is_won, is_closed, most common probability (percent) or None, opportunities)]``, ordered by
    closed last, then probability, then name; ``[]`` before Opportunity is synced. Fixed SQL on
    Django's connection."""
    table_id = pg_sql.Identifier(target.schema, "sf_opportunity")
    statement = pg_sql.SQL(
        "SELECT stage_name, bool_or(is_won), bool_or(is_closed), mode() WITHIN GROUP (ORDER BY probability), count(*) "
        "FROM {} WHERE stage_name IS NOT NULL GROUP BY stage_name"
    ).format(table_id)
    connection.ensure_connection()
    with connection.connection.cursor() as cur:
        if not cur.execute("SELECT to_regclass(%s)", [f'"{target.schema}"."sf_opportunity"']).fetchone()[0]:
            return []  # Opportunity not synced (yet)
        rows = cur.execute(statement).fetchall()
    out = [(str(s), bool(w), bool(c), float(p) if p is not None else None, int(n)) for s, w, c, p, n in rows]
    return sorted(out, key=lambda r: (r[2], 0 if r[1] else 1, r[3] if r[3] is not None else 0.0, r[0]))
