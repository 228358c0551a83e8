"""Incremental Gong sync: calls and transcripts into the tenant's warehouse table ``gong_call``
(issue 12, part 3).

Each run asks Gong for the calls started at or after the watermark (``fromDateTime``; the first
run starts at the credential's ``from_date``, default 365 days back), page by page
(``records.cursor``), fetches the page's transcripts, and writes the page in one database
transaction together with the new watermark (the latest ``metaData.started`` committed, kept in
:class:`integrations.models.SyncState` ``gong / calls``). Calls sharing the watermark's instant
are read again and upserted only when something changed, so nothing is skipped or counted twice.

Deletions: Gong's calls list has no deleted-call feed, so an incremental run cannot see a call
deleted in Gong. A **full** run (``full=True``; ``manage.py gong_sync --full``) reads every call
from the credential's ``from_date`` and, once every page was read and written, deletes the rows
started between ``from_date`` and the latest call Gong lists that Gong no longer lists (counted in
``rows_deleted``). Rows started before ``from_date`` are outside what Gong was asked for and are
left alone. A run that fails on any page (a 404 on a cursor page included) deletes nothing, and so
does a listing with no call at all while rows are stored: that is an error, most likely a wrong
``base_url`` or another workspace's key.

One row per call (table ``gong_call`` in the schema from
:func:`integrations.salesforce.sync.sync_target_ensure`)::

    id, started_at (timestamptz), call_date (date, in the call's own time zone), title, url,
    duration_seconds, direction, account_id, account_link ('crm' | 'domain' | ''),
    participants ("Name <email>; ..."), external_participants (names, "; "), activity_type
    ('Gong call'), status ('Completed'), transcript ("Speaker: sentences" per monologue)

Account link, in order: the call's CRM context (an ``Account`` object, e.g. Salesforce's
``001...`` id), else the e-mail domain of an external participant matched to an account's
website domain in the synced ``sf_account`` table (``https://www.acme.com/`` -> ``acme.com``).

Credential ``gong``: config ``{"base_url": "https://api.gong.io", "from_date": "2024-01-01",
"timeout_seconds": 15, "max_retry_after_seconds": 60}``, secrets ``{"access_key",
"access_key_secret"}``.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql as pg_sql

from integrations.crypto import SecretDecryptError
from integrations.gong.client import DEFAULT_BASE_URL, MAX_RETRY_AFTER_SECONDS, TIMEOUT_SECONDS, GongClient, GongError
from integrations.health import connector_record
from integrations.models import ConnectorCredential, ConnectorKind, SyncSource, SyncState, SyncStatus
from integrations.outbound import outbound_allowlist_get, outbound_check
from integrations.salesforce.sync import (
    SalesforceSyncError,
    SyncTarget,
    rows_upsert,
    sync_state_claim,
    sync_state_fail,
    sync_table_ensure,
    sync_target_ensure,
)
from revops.lib.urls import UnsafeURL

logger = logging.getLogger(__name__)

TABLE = "gong_call"
STREAM = "calls"
DEFAULT_HISTORY_DAYS = 365
COLUMNS: list[tuple[str, str]] = [
    ("id", "text"), ("started_at", "timestamptz"), ("call_date", "date"), ("title", "text"), ("url", "text"),
    ("duration_seconds", "integer"), ("direction", "text"), ("account_id", "text"), ("account_link", "text"),
    ("participants", "text"), ("external_participants", "text"), ("activity_type", "text"), ("status", "text"),
    ("transcript", "text"),
]


class GongSyncError(Exception):
    """The sync could not finish; the message is safe to show (no key, no secret)."""


@dataclass
class GongSyncReport:
    """One run: calls read, inserted or changed, pages committed, linked to an account (by CRM
    id / by domain), rows deleted because Gong no longer lists them (full runs only), the
    watermark reached, the schema, and the error (empty when it succeeded)."""

    schema: str = ""
    fetched: int = 0
    upserted: int = 0
    batches: int = 0
    linked_crm: int = 0
    linked_domain: int = 0
    deleted: int = 0
    watermark: dt.datetime | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        """True when the sync ended without an error."""
        return not self.error


def domain_of(value: str) -> str:
    """Registrable-looking domain of a website or e-mail: ``https://www.Acme.com/x`` ->
    ``acme.com``, ``paul@mail.acme.com`` -> ``mail.acme.com`` (only ``www.`` is dropped)."""
    text = (value or "").strip().lower()
    if "@" in text and "//" not in text:
        text = text.rsplit("@", 1)[1]
    if "//" not in text:
        text = "//" + text
    host = urlsplit(text).hostname or ""
    return host.removeprefix("www.")


def _parse_started(value: Any) -> dt.datetime:
    try:
        started = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise GongSyncError(f"Gong returned a call with an unreadable start time {str(value)[:40]!r}") from None
    if started.tzinfo is None:
        started = started.replace(tzinfo=dt.timezone.utc)
    return started


def _crm_account(call: dict) -> str | None:
    for ctx in call.get("context") or []:
        if not isinstance(ctx, dict):
            continue
        for obj in ctx.get("objects") or []:
            if isinstance(obj, dict) and str(obj.get("objectType", "")).lower() == "account" and obj.get("objectId"):
                return str(obj["objectId"])
    return None


def transcript_text(monologues: list[dict], speakers: dict[str, str]) -> str:
    """``"Speaker: sentence sentence"`` per monologue, one per line (unknown speakers: ``Speaker``)."""
    lines = []
    for mono in monologues:
        if not isinstance(mono, dict):
            continue
        text = " ".join(str(s.get("text") or "").strip() for s in mono.get("sentences") or [] if isinstance(s, dict)).strip()
        if text:
            lines.append(f"{speakers.get(str(mono.get('speakerId')), 'Speaker')}: {text}")
    return "\n".join(lines)


def call_row(call: dict, transcript: list[dict], *, domains: dict[str, str]) -> tuple[tuple, str]:
    """One ``gong_call`` row (column order of :data:`COLUMNS`) and how its account was linked.

    Raises:
        GongSyncError: the call has no ``metaData.id`` or an unreadable start time.
    """
    meta = call.get("metaData") if isinstance(call.get("metaData"), dict) else {}
    call_id = str(meta.get("id") or "")
    if not call_id:
        raise GongSyncError("Gong returned a call without metaData.id")
    started = _parse_started(meta.get("started"))
    parties = [p for p in call.get("parties") or [] if isinstance(p, dict)]
    speakers = {str(p["speakerId"]): str(p.get("name") or p.get("emailAddress") or "Speaker") for p in parties if p.get("speakerId")}
    external = [p for p in parties if str(p.get("affiliation", "")).lower() != "internal"]
    account, link = _crm_account(call), "crm"
    if account is None:
        link = ""
        for p in external:
            match = domains.get(domain_of(str(p.get("emailAddress") or "")))
            if match:
                account, link = match, "domain"
                break
    duration = meta.get("duration")
    row = (
        call_id, started, started.date(), str(meta.get("title") or "") or None, str(meta.get("url") or "") or None,
        int(duration) if isinstance(duration, (int, float)) and not isinstance(duration, bool) else None,
        str(meta.get("direction") or "") or None, account, link or None,
        "; ".join(f"{p.get('name') or ''} <{p.get('emailAddress') or ''}>".strip() for p in parties) or None,
        "; ".join(str(p.get("name")) for p in external if p.get("name")) or None,
        "Gong call", "Completed", transcript_text(transcript, speakers) or None,
    )
    return row, link


def account_domains(*, target: SyncTarget) -> dict[str, str]:
    """``{website domain: account id}`` from the synced ``sf_account`` table (empty when there is
    none). Fixed SQL on Django's connection."""
    connection.ensure_connection()
    with connection.connection.cursor() as cur:
        exists = cur.execute("SELECT to_regclass(%s)", [f'"{target.schema}"."sf_account"']).fetchone()[0]
        if not exists:
            return {}
        rows = cur.execute(
            pg_sql.SQL("SELECT id, website FROM {} WHERE website IS NOT NULL ORDER BY id").format(pg_sql.Identifier(target.schema, "sf_account"))
        ).fetchall()
    out: dict[str, str] = {}
    for account_id, website in rows:
        out.setdefault(domain_of(website), account_id)
    out.pop("", None)
    return out


def _client(credential: ConnectorCredential, *, wait_scale: float) -> GongClient:
    config = credential.config or {}
    try:
        secrets = credential.secrets()
    except SecretDecryptError:
        raise GongSyncError("the Gong connector's secrets cannot be decrypted") from None
    if not secrets.get("access_key") or not secrets.get("access_key_secret"):
        raise GongSyncError("the Gong connector needs the secrets 'access_key' and 'access_key_secret'")

    def number(key: str, default: float, low: float, high: float) -> float:
        try:
            return min(max(float(config.get(key) or default), low), high)
        except (TypeError, ValueError):
            return default

    base_url = str(config.get("base_url") or DEFAULT_BASE_URL)
    try:  # the same SSRF guard as "Test connection" and action delivery (DESIGN.md §5)
        outbound_check(base_url, allowlist=outbound_allowlist_get(tenant=credential.tenant))
    except UnsafeURL as exc:
        raise GongSyncError(f"the Gong connector's base_url was refused: {exc}") from None
    return GongClient(
        base_url=base_url, access_key=str(secrets["access_key"]),
        access_key_secret=str(secrets["access_key_secret"]), timeout=number("timeout_seconds", TIMEOUT_SECONDS, 0.1, 120),
        max_retry_after=number("max_retry_after_seconds", MAX_RETRY_AFTER_SECONDS, 0, 600), wait_scale=wait_scale,
    )


def _initial_from(credential: ConnectorCredential) -> dt.datetime:
    raw = (credential.config or {}).get("from_date")
    if raw:
        try:
            day = dt.date.fromisoformat(str(raw))
        except ValueError:
            raise GongSyncError(f"the Gong connector's from_date {str(raw)[:20]!r} is not a YYYY-MM-DD date") from None
        return dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone.utc)
    return timezone.now() - dt.timedelta(days=DEFAULT_HISTORY_DAYS)


def gong_sync(*, tenant, full: bool = False, wait_scale: float = 1.0) -> GongSyncReport:
    """Sync the tenant's Gong calls (see the module docstring). Never raises for a Gong or
    credential problem: the report, the ``SyncState`` and the connector's health carry the error.

    Args:
        tenant: the tenant (credentials and state read with ``for_tenant``).
        full: read every call from the credential's ``from_date`` (not the watermark) and delete
            the rows of calls Gong no longer lists (see "Deletions" in the module docstring).
        wait_scale: multiplier of every retry wait, ``Retry-After`` included (tests pass 0).
    """
    report = GongSyncReport()
    credential = ConnectorCredential.objects.for_tenant(tenant).filter(kind=ConnectorKind.GONG).order_by("pk").first()
    try:
        if credential is None:
            raise GongSyncError("no Gong connector is configured for this tenant")
        target = sync_target_ensure(tenant=tenant)
    except (GongSyncError, SalesforceSyncError, ValueError) as exc:
        report.error = str(exc).replace("the Salesforce sync", "the Gong sync")
        state, _ = SyncState.objects.for_tenant(tenant).get_or_create(tenant=tenant, source=SyncSource.GONG, stream=STREAM, defaults={"table": TABLE})
        sync_state_fail(state, report.error)
        return report
    report.schema = target.schema
    try:
        state = sync_state_claim(tenant=tenant, source=SyncSource.GONG, stream=STREAM, table=TABLE)
    except SalesforceSyncError as exc:
        report.error = str(exc)
        return report
    report.watermark = state.watermark
    try:
        since = _initial_from(credential) if full or state.watermark is None else state.watermark
        seen: set[str] = set()
        last_started: dt.datetime | None = None  # the latest call start Gong listed in this run
        with transaction.atomic():
            connection.ensure_connection()
            with connection.connection.cursor() as cur:
                sync_table_ensure(cur, target=target, table=TABLE, columns=COLUMNS)
        domains = account_domains(target=target)
        with _client(credential, wait_scale=wait_scale) as client:
            cursor: str | None = None
            while True:
                calls, cursor = client.calls_page(from_datetime=since, cursor=cursor)
                ids = [str((c.get("metaData") or {}).get("id") or "") for c in calls if isinstance(c, dict)]
                transcripts = client.transcripts(call_ids=[i for i in ids if i])
                rows, links = [], []
                for call in calls:
                    if not isinstance(call, dict):
                        raise GongSyncError("Gong returned a call that is not a JSON object")
                    row, link = call_row(call, transcripts.get(str((call.get("metaData") or {}).get("id")), []), domains=domains)
                    rows.append(row)
                    links.append(link)
                seen.update(str(r[0]) for r in rows)
                last_started = max([w for w in (last_started, *(r[1] for r in rows)) if w is not None], default=None)
                with transaction.atomic():
                    with connection.connection.cursor() as cur:
                        changed = rows_upsert(cur, target=target, table=TABLE, columns=[c for c, _ in COLUMNS], rows=rows)
                    report.fetched += len(rows)
                    report.upserted += changed
                    report.batches += 1
                    report.linked_crm += links.count("crm")
                    report.linked_domain += links.count("domain")
                    if rows:
                        report.watermark = max([w for w in (report.watermark, *(r[1] for r in rows)) if w is not None])
                    SyncState.objects.for_tenant(tenant).filter(pk=state.pk).update(
                        watermark=report.watermark, rows_upserted=report.upserted, updated_at=timezone.now()
                    )
                if not cursor:
                    break
        if full:
            with transaction.atomic():
                with connection.connection.cursor() as cur:
                    report.deleted = _rows_delete_unlisted(cur, target=target, since=since, until=last_started, listed=seen)
    except (GongError, GongSyncError) as exc:
        report.error = str(exc)
        sync_state_fail(state, report.error)
        connector_record(credential, ok=False, error=report.error)
        return report
    except Exception as exc:  # a database error: recorded without its raw text (it may quote values)
        logger.exception("gong sync failed for tenant %s", tenant.slug)
        report.error = f"the Gong calls could not be written to schema {target.schema} ({type(exc).__name__})"
        sync_state_fail(state, report.error)
        return report
    now = timezone.now()
    SyncState.objects.for_tenant(tenant).filter(pk=state.pk).update(
        status=SyncStatus.SUCCEEDED, last_success_at=now, last_error="", rows_upserted=report.upserted, rows_deleted=report.deleted,
        watermark=report.watermark, updated_at=now,
    )
    connector_record(credential, ok=True)
    logger.info("gong sync for tenant %s: %s calls read, %s inserted or changed, %s deleted", tenant.slug, report.fetched, report.upserted, report.deleted)
    return report


def _rows_delete_unlisted(cur, *, target: SyncTarget, since: dt.datetime, until: dt.datetime | None, listed: set[str]) -> int:
    """Delete the ``gong_call`` rows started from ``since`` to ``until`` (the latest start Gong
    listed; both inclusive) whose id is not in ``listed`` (the ids Gong returned for that window);
    how many were deleted. Rows started after ``until`` are kept: a run that overlapped this one
    may have written them after the listing passed, and a call deleted in Gong after the last one
    it lists is removed by the next full run.

    Raises GongSyncError, deleting nothing, when Gong listed no call at all while rows exist from
    ``since`` on: an empty listing is far more likely a wrong ``base_url`` or another workspace's
    key than every call deleted (delete the rows by hand, or the schema, to start over)."""
    table = pg_sql.Identifier(target.schema, TABLE)
    if until is None:
        cur.execute(pg_sql.SQL("SELECT count(*) FROM {} WHERE started_at >= %s").format(table), [since])
        stored = cur.fetchone()[0]
        if stored:
            raise GongSyncError(
                f"Gong listed no call since {since.date().isoformat()} while {stored} are stored; nothing was deleted "
                "(check the connector's base_url and that the access key belongs to the right workspace)"
            )
        return 0
    cur.execute(
        pg_sql.SQL("DELETE FROM {} WHERE started_at >= %s AND started_at <= %s AND NOT (id = ANY(%s))").format(table),
        [since, until, sorted(listed)],
    )
    return cur.rowcount
