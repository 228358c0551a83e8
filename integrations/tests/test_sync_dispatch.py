"""Scheduled Salesforce and Gong syncs: connectors opt in with ``sync_interval_minutes``; the
dispatcher enqueues one sync per due connector and none for the others."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ

from integrations.models import ConnectorKind, SyncSource, SyncState
from integrations.services import credential_set
from integrations.tasks import connector_syncs_dispatch


@pytest.fixture(autouse=True)
def _orm_broker(monkeypatch):
    """django-q2 enqueues into its ORM queue as in production (the test settings run tasks inline)."""
    monkeypatch.setattr(Conf, "SYNC", False)


def _queued_funcs() -> list[tuple[str, tuple]]:
    out = []
    for q in OrmQ.objects.all():
        task = q.task
        out.append((task["func"], tuple(task["args"])))
    return out


def test_only_opted_in_and_due_connectors_are_synced(world_a, world_b):
    a, b = world_a.tenant, world_b.tenant
    credential_set(tenant=a, kind=ConnectorKind.SALESFORCE, config={"instance_url": "https://a.example", "sync_interval_minutes": 30}, secrets={"refresh_token": "x"})
    credential_set(tenant=a, kind=ConnectorKind.GONG, config={"sync_interval_minutes": 60}, secrets={"access_key": "k", "access_key_secret": "s"})
    # Tenant B: Salesforce for CRM updates only (no interval), and Gong synced 10 minutes ago.
    credential_set(tenant=b, kind=ConnectorKind.SALESFORCE, config={"instance_url": "https://b.example"}, secrets={"refresh_token": "y"})
    credential_set(tenant=b, kind=ConnectorKind.GONG, config={"sync_interval_minutes": 60}, secrets={"access_key": "k", "access_key_secret": "s"})
    now = timezone.now()
    SyncState.objects.for_tenant(b).create(tenant=b, source=SyncSource.GONG, stream="calls", last_run_at=now - timedelta(minutes=10))

    enqueued = connector_syncs_dispatch(now=now)

    assert sorted(enqueued) == sorted([(a.pk, ConnectorKind.SALESFORCE.value), (a.pk, ConnectorKind.GONG.value)])
    assert sorted(_queued_funcs()) == sorted([("integrations.tasks.salesforce_sync_tenant", (a.pk,)), ("integrations.tasks.gong_sync_tenant", (a.pk,))])
    # An hour later tenant B's Gong stream is due; tenant A's streams never ran, so still due.
    later = connector_syncs_dispatch(now=now + timedelta(minutes=61))
    assert (b.pk, ConnectorKind.GONG.value) in later and (b.pk, ConnectorKind.SALESFORCE.value) not in later


def test_a_too_small_or_malformed_interval_is_raised_or_ignored(world_a):
    a = world_a.tenant
    credential_set(tenant=a, kind=ConnectorKind.GONG, config={"sync_interval_minutes": 1}, secrets={"access_key": "k", "access_key_secret": "s"})
    now = timezone.now()
    SyncState.objects.for_tenant(a).create(tenant=a, source=SyncSource.GONG, stream="calls", last_run_at=now - timedelta(minutes=5))
    assert connector_syncs_dispatch(now=now) == []  # 1 minute is raised to the 15-minute floor
    credential_set(tenant=a, kind=ConnectorKind.GONG, config={"sync_interval_minutes": "often"}, secrets={"access_key": "k", "access_key_secret": "s"})
    assert connector_syncs_dispatch(now=now + timedelta(hours=1)) == []
