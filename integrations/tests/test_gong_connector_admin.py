"""The Gong connector in the admin (typed config, write-only secrets, ``sync_interval_minutes``)
and its "Test connection" through our Gong client against the local fake
(``integrations/tests/fake_gong.py``): one calls request over the last day, clear messages for a
refused key, an unreachable host and a 429 storm. Also ``sync_interval_minutes`` on the
Salesforce form, which the sync dispatcher reads."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from actions.tests.fakes import Servers
from integrations.models import ConnectorCredential
from integrations.services import credential_set
from integrations.tasks import connector_syncs_dispatch
from integrations.tests.fake_gong import FakeGong, gong_handler
from revops.lib.ports import free_port

ADD = reverse("admin:integrations_connectorcredential_add")
KEY, SECRET = "GONGKEY123", "gong-secret-value"

pytestmark = pytest.mark.django_db


def change_url(row: ConnectorCredential) -> str:
    return reverse("admin:integrations_connectorcredential_change", args=[row.pk])


def check_url(row: ConnectorCredential) -> str:
    return reverse("admin:integrations_connectorcredential_test", args=[row.pk])


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def fake_gong():
    servers = Servers()
    state = FakeGong(access_key=KEY, access_key_secret=SECRET)
    state.port = servers.start(gong_handler(state))
    now = dt.datetime.now(dt.timezone.utc)
    for call_id, age in (("71001", dt.timedelta(hours=2)), ("71002", dt.timedelta(days=3))):
        state.add_call(call_id, started=(now - age).isoformat(), title=f"call {call_id}",
                       parties=[{"name": "Paul Stokes", "emailAddress": "paul.stokes@acmecorporation.com"}])
    yield state
    servers.close()


@pytest.fixture
def loopback_allowed(world_a):
    """Tenant A's outbound policy allowlists the loopback fake, as a private host would be."""
    tenant = world_a.tenant
    tenant.settings = {**tenant.settings, "actions": {**tenant.settings.get("actions", {}), "outbound_allowlist": ["127.0.0.1/32"]}}
    tenant.save(update_fields=["settings"])
    return tenant


def _gong_form(world, fake: FakeGong, **extra) -> dict:
    return {"tenant": world.tenant.pk, "name": "default", "config_base_url": fake.base_url, "config_from_date": "2025-01-01",
            "config_sync_interval_minutes": "30", "secret_access_key": KEY, "secret_access_key_secret": SECRET, **extra}


def test_owner_adds_a_gong_connector_secrets_encrypted_and_never_rendered(client, world_a, fake_gong):
    client.force_login(world_a.owner)
    form = client.get(ADD + "?kind=gong").content.decode()
    for name in ("config_base_url", "config_sync_interval_minutes", "secret_access_key", "secret_access_key_secret"):
        assert f'name="{name}"' in form
    response = client.post(ADD + "?kind=gong", _gong_form(world_a, fake_gong))
    assert response.status_code == 302, response.content.decode()[:2000]
    row = ConnectorCredential.objects.for_tenant(world_a.tenant).get(kind="gong")
    assert row.config == {"base_url": fake_gong.base_url, "from_date": "2025-01-01", "sync_interval_minutes": 30}
    assert row.secrets() == {"access_key": KEY, "access_key_secret": SECRET}
    page = client.get(change_url(row)).content.decode()
    assert KEY not in page and SECRET not in page
    assert "Access key: set" in page and "Access key secret: set" in page
    # The dispatcher reads the interval the form stored: a connector that never synced is due.
    assert (world_a.tenant.pk, "gong") in connector_syncs_dispatch()


@pytest.mark.parametrize("extra, field, message", [
    ({"config_sync_interval_minutes": "5"}, "config_sync_interval_minutes", "greater than or equal to 15"),
    ({"config_base_url": "http://gong.example.com"}, "config_base_url", "https only"),
    ({"config_from_date": "2025-02-30"}, "config_from_date", "Not a calendar date."),
    ({"config_from_date": "yesterday"}, "config_from_date", "A date looks like 2025-01-31."),
    ({"secret_access_key_secret": ""}, "secret_access_key_secret", "The access key secret is required."),
])
def test_bad_gong_config_is_a_form_error(client, world_a, fake_gong, extra, field, message):
    client.force_login(world_a.owner)
    response = client.post(ADD + "?kind=gong", _gong_form(world_a, fake_gong, **extra))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert any(message in e for e in errors.get(field, [])), errors
    assert not ConnectorCredential.objects.for_tenant(world_a.tenant).filter(kind="gong").exists()


def test_gong_test_connection_lists_the_last_days_calls(client, world_a, fake_gong, loopback_allowed):
    row = credential_set(tenant=world_a.tenant, kind="gong", config={"base_url": fake_gong.base_url}, secrets={"access_key": KEY, "access_key_secret": SECRET})
    client.force_login(world_a.owner)
    assert "Test connection" in client.get(change_url(row)).content.decode()
    texts = messages_of(client.post(check_url(row), follow=True))
    assert any("Gong answered the calls request: 1 call(s) in the last day." in t for t in texts), texts
    path, body = fake_gong.requests[-1]
    assert path == "/v2/calls/extensive"
    since = dt.datetime.fromisoformat(body["filter"]["fromDateTime"])
    assert dt.timedelta(hours=23) < dt.datetime.now(dt.timezone.utc) - since < dt.timedelta(hours=25)


def test_gong_test_connection_errors_are_clear_and_hold_no_secret(client, world_a, fake_gong, loopback_allowed):
    row = credential_set(tenant=world_a.tenant, kind="gong", config={"base_url": fake_gong.base_url},
                         secrets={"access_key": KEY, "access_key_secret": "wrong-secret-987"})
    client.force_login(world_a.owner)
    texts = messages_of(client.post(check_url(row), follow=True))
    assert any("refused the access key (HTTP 401): check the key and its secret" in t for t in texts), texts
    assert not any("wrong-secret-987" in t or KEY in t for t in texts)

    credential_set(tenant=world_a.tenant, kind="gong", config={"base_url": fake_gong.base_url}, secrets={"access_key": KEY, "access_key_secret": SECRET})
    fake_gong.retry_after = "1"
    fake_gong.plan = [429, 429]
    texts = messages_of(client.post(check_url(row), follow=True))
    assert any("kept rate-limiting the calls request (429 Too Many Requests) (2 attempts)" in t for t in texts), texts

    fake_gong.plan = ["malformed"]
    texts = messages_of(client.post(check_url(row), follow=True))
    assert any("not valid JSON" in t for t in texts), texts

    port = free_port()
    credential_set(tenant=world_a.tenant, kind="gong", config={"base_url": f"http://127.0.0.1:{port}"}, secrets={"access_key": KEY, "access_key_secret": SECRET})
    texts = messages_of(client.post(check_url(row), follow=True))
    assert any(f"cannot reach Gong at 127.0.0.1:{port} (ConnectError) (2 attempts)" in t for t in texts), texts


def test_gong_test_connection_refuses_internal_addresses_unless_allowlisted(client, world_a, fake_gong):
    tenant = world_a.tenant
    tenant.settings = {**tenant.settings, "actions": {**tenant.settings.get("actions", {}), "outbound_allowlist": []}}
    tenant.save(update_fields=["settings"])
    # https to the loopback fake (the outbound guard lets plain-http loopback test servers through).
    row = credential_set(tenant=tenant, kind="gong", config={"base_url": fake_gong.base_url.replace("http://", "https://")},
                         secrets={"access_key": KEY, "access_key_secret": SECRET})
    sent = len(fake_gong.requests)
    client.force_login(world_a.owner)
    texts = messages_of(client.post(check_url(row), follow=True))
    assert any("URL refused:" in t and "non-public address" in t for t in texts), texts
    credential_set(tenant=tenant, kind="gong", config={"base_url": "https://10.0.0.1"}, secrets={"access_key": KEY, "access_key_secret": SECRET})
    texts = messages_of(client.post(check_url(row), follow=True))
    assert any("URL refused:" in t and "non-public address (10.0.0.1)" in t for t in texts), texts
    assert len(fake_gong.requests) == sent


def test_editors_get_403_and_other_tenants_404(client, world_a, world_b, fake_gong):
    row = credential_set(tenant=world_a.tenant, kind="gong", config={"base_url": fake_gong.base_url}, secrets={"access_key": KEY, "access_key_secret": SECRET})
    client.force_login(world_a.editor)
    assert client.post(check_url(row)).status_code == 403
    assert client.post(change_url(row), {"name": "default", "config_sync_interval_minutes": "60"}).status_code == 403
    client.force_login(world_b.owner)
    assert client.get(change_url(row)).status_code == 404
    assert client.post(check_url(row)).status_code == 404
    assert fake_gong.requests == []


def test_salesforce_form_sets_the_sync_interval_and_keeps_the_oauth_settings(client, world_a):
    row = credential_set(
        tenant=world_a.tenant, kind="salesforce",
        config={"instance_url": "https://acme.my.salesforce.com", "login_url": "https://login.salesforce.com", "client_id": "3MVG9.client"},
        secrets={"refresh_token": "5Aep-refresh-token", "client_secret": "client-secret-xyz"},
    )
    client.force_login(world_a.owner)
    page = client.get(change_url(row)).content.decode()
    assert 'name="config_sync_interval_minutes"' in page and "5Aep-refresh-token" not in page and "Refresh token: set" in page
    form = {"name": "default", "config_instance_url": "https://acme.my.salesforce.com", "config_login_url": "https://login.salesforce.com",
            "config_client_id": "3MVG9.client", "config_sync_interval_minutes": "5"}
    response = client.post(change_url(row), form)
    assert response.status_code == 200 and "greater than or equal to 15" in response.content.decode()
    assert client.post(change_url(row), {**form, "config_sync_interval_minutes": "60"}).status_code == 302
    row.refresh_from_db()
    assert row.config == {"instance_url": "https://acme.my.salesforce.com", "login_url": "https://login.salesforce.com",
                          "client_id": "3MVG9.client", "sync_interval_minutes": 60}
    assert row.secrets() == {"refresh_token": "5Aep-refresh-token", "client_secret": "client-secret-xyz"}
    assert (world_a.tenant.pk, "salesforce") in connector_syncs_dispatch()
