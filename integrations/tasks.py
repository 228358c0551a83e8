"""django-q2 tasks of the integrations app (scheduled by ``agents/schedules.py``)."""

from datetime import timedelta

from django.utils import timezone

from integrations.models import SlackEvent
from integrations.gong.services import gong_sync_run
from integrations.salesforce.services import salesforce_sync_run
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
