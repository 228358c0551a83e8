"""django-q2 tasks of the integrations app (scheduled by ``agents/schedules.py``)."""

from datetime import timedelta

from django.db.models import Min
from django.utils import timezone

from integrations.models import ConnectorCredential, ConnectorKind, SlackEvent, SyncSource, SyncState
from integrations.gong.services import gong_sync_run
from integrations.salesforce.services import salesforce_sync_run
from revops.lib.queue import task_enqueue
from tenants.models import Tenant

SLACK_EVENT_KEEP = timedelta(days=2)  # Slack stops retrying an event about an hour after the first attempt


def slack_events_purge(*, older_than: timedelta = SLACK_EVENT_KEEP) -> int:
    """Daily: delete Slack dedupe records (``SlackEvent``, all tenants) received more than
    ``older_than`` ago (default two days: Slack retries within the hour, so a wide margin);
    returns how many were deleted."""
    cutoff = timezone.now() - older_than
    deleted, _ = SlackEvent.objects.unscoped().filter(received_at__lt=cutoff).delete()  # all tenants: maintenance
    return deleted


def salesforce_sync_tenant(tenant_id: int, full: bool = False) -> dict:
    """Sync one tenant's Salesforce objects into its warehouse (django-q2; schedule it per
    tenant). Safe to retry: the watermark only moves with committed batches and a running
    stream is claimed with a conditional UPDATE. Returns ``{"ok", "error", "objects": {name:
    [upserted, deleted]}}``; a Salesforce or credential failure is recorded on the sync state,
    not raised."""
    tenant = Tenant.objects.get(pk=tenant_id)
    report, offer = salesforce_sync_run(tenant=tenant, full=bool(full))
    return {"ok": report.ok, "error": report.error, "objects": {o.object: [o.upserted, o.deleted] for o in report.objects},
            "model": offer.action if offer else None}


def gong_sync_tenant(tenant_id: int) -> dict:
    """Sync one tenant's Gong calls into its warehouse (django-q2; schedule it per tenant). Safe
    to retry (watermark per committed page, claimed stream). Returns ``{"ok", "error", "calls":
    [read, inserted or changed], "model"}``; a Gong failure is recorded, not raised."""
    tenant = Tenant.objects.get(pk=tenant_id)
    report, offer = gong_sync_run(tenant=tenant)
    return {"ok": report.ok, "error": report.error, "calls": [report.fetched, report.upserted], "model": offer.action if offer else None}


# Sync connectors opt in with ``sync_interval_minutes`` in their config (at least this often is
# refused: Salesforce API limits are per org per day and one sync reads every changed record).
SYNC_MIN_INTERVAL_MINUTES = 15
_SYNC_TASKS = {
    ConnectorKind.SALESFORCE: (SyncSource.SALESFORCE, "integrations.tasks.salesforce_sync_tenant"),
    ConnectorKind.GONG: (SyncSource.GONG, "integrations.tasks.gong_sync_tenant"),
}


def connector_syncs_dispatch(*, now=None) -> list[tuple[int, str]]:
    """Every 5 minutes (``agents/schedules.py``): enqueue a Salesforce or Gong sync for each
    connector, in every tenant, whose config sets ``sync_interval_minutes`` (an integer, at least
    ``SYNC_MIN_INTERVAL_MINUTES``; smaller values are raised to it) and whose oldest stream last
    ran longer ago than that (or never). A sync already running is not doubled: the sync claims
    its stream with a conditional UPDATE and a second one finds nothing to do. Returns the
    ``(tenant id, kind)`` pairs enqueued."""
    now = now or timezone.now()
    enqueued: list[tuple[int, str]] = []
    credentials = ConnectorCredential.objects.unscoped().filter(kind__in=list(_SYNC_TASKS))  # all tenants: a dispatcher
    for credential in credentials.only("tenant_id", "kind", "config"):
        raw = (credential.config or {}).get("sync_interval_minutes")
        if not isinstance(raw, int) or isinstance(raw, bool) or raw <= 0:
            continue
        interval = timedelta(minutes=max(raw, SYNC_MIN_INTERVAL_MINUTES))
        source, func = _SYNC_TASKS[credential.kind]
        last = SyncState.objects.for_tenant(credential.tenant_id).filter(source=source).aggregate(last=Min("last_run_at"))["last"]
        if last is None or now - last >= interval:
            task_enqueue(func, credential.tenant_id, task_name=f"{source}-sync-{credential.tenant_id}")
            enqueued.append((credential.tenant_id, str(credential.kind)))
    return enqueued
