"""The Slack ack's credential lookup is reused for SLACK_ENDPOINT_CACHE_SECONDS: no SELECT within
the window, a replaced credential seen once the window has passed, tenants never mixed."""

from __future__ import annotations

from integrations.models import ConnectorCredential, ConnectorKind
from integrations.slack import verification
from integrations.slack.verification import slack_endpoint_get


def test_the_lookup_is_reused_within_the_window_and_read_again_after(slack_a, slack_b, settings, django_assert_num_queries, monkeypatch):
    settings.SLACK_ENDPOINT_CACHE_SECONDS = 30
    clock = [1000.0]
    monkeypatch.setattr(verification, "_clock", lambda: clock[0])
    first = slack_endpoint_get(tenant_slug=slack_a.tenant.slug)
    assert first is not None and first.tenant_id == slack_a.tenant.pk
    with django_assert_num_queries(0):
        again = slack_endpoint_get(tenant_slug=slack_a.tenant.slug)
    assert again == first
    # Another tenant's slug is its own entry, read from the database.
    other = slack_endpoint_get(tenant_slug=slack_b.tenant.slug)
    assert other is not None and other.tenant_id == slack_b.tenant.pk and other.app != first.app

    ConnectorCredential.objects.for_tenant(slack_a.tenant).filter(kind=ConnectorKind.SLACK).delete()
    assert slack_endpoint_get(tenant_slug=slack_a.tenant.slug) is not None  # within the window: the documented lag
    clock[0] += 31
    assert slack_endpoint_get(tenant_slug=slack_a.tenant.slug) is None  # read again: the deletion is seen


def test_a_zero_window_reads_every_time(slack_a, settings, django_assert_num_queries):
    settings.SLACK_ENDPOINT_CACHE_SECONDS = 0
    slack_endpoint_get(tenant_slug=slack_a.tenant.slug)
    with django_assert_num_queries(1):
        assert slack_endpoint_get(tenant_slug=slack_a.tenant.slug) is not None
