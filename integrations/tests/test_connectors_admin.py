"""The connector admin: per-kind forms, write-only encrypted secrets, roles, tenant isolation and
"Test connection" against local fakes (Slack, a Brave-shaped search API, Salesforce over TLS) and
the real demo warehouse role."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

import pytest
from django.db import connection
from django.urls import reverse

from actions.tests.fakes import Servers
from integrations.models import ConnectorCredential
from integrations.services import credential_set

ADD = reverse("admin:integrations_connectorcredential_add")
CHANGELIST = reverse("admin:integrations_connectorcredential_changelist")
SIGNING = "slack-signing-secret-0123456789abcdef"
BOT = "xoxb-1234-5678-verysecrettoken"


def change_url(row: ConnectorCredential) -> str:
    return reverse("admin:integrations_connectorcredential_change", args=[row.pk])


def check_url(row: ConnectorCredential) -> str:
    return reverse("admin:integrations_connectorcredential_test", args=[row.pk])


def raw_token(pk: int) -> str:
    with connection.cursor() as cur:
        cur.execute("SELECT secret_token FROM integrations_connectorcredential WHERE id = %s", [pk])
        return cur.fetchone()[0]


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def slack_form(world, **extra) -> dict:
    return {"tenant": world.tenant.pk, "name": "default", "config_team_id": "T0FAKE", "config_bot_user_id": "", **extra}


@pytest.fixture
def slack_row(world_a):
    return credential_set(tenant=world_a.tenant, kind="slack", config={"team_id": "T0FAKE"}, secrets={"signing_secret": SIGNING, "bot_token": BOT})


# --- forms and secrets ---------------------------------------------------------------------------


def test_add_starts_with_a_choice_of_kind(client, world_a):
    client.force_login(world_a.owner)
    page = client.get(ADD).content.decode()
    for key in ("warehouse_postgres", "slack", "web_search", "salesforce", "llm/openai", "llm/bedrock"):
        assert f"?kind={key.replace('/', '%2F')}" in page
    form = client.get(ADD + "?kind=warehouse_postgres").content.decode()
    assert 'name="config_schema"' in form and 'name="config_use_app_database"' in form and 'type="checkbox"' in form
    assert 'name="secret_password"' in form and 'type="password"' in form
    assert 'name="config"' not in form  # no raw JSON box


def test_owner_adds_a_slack_connector_secrets_encrypted_and_never_rendered(client, world_a):
    client.force_login(world_a.owner)
    response = client.post(ADD + "?kind=slack", slack_form(world_a, secret_signing_secret=SIGNING, secret_bot_token=BOT))
    assert response.status_code == 302, response.content.decode()[:2000]
    row = ConnectorCredential.objects.unscoped().get(tenant=world_a.tenant, kind="slack")
    assert row.config == {"team_id": "T0FAKE"}
    assert row.secrets() == {"signing_secret": SIGNING, "bot_token": BOT}
    raw = raw_token(row.pk)
    assert SIGNING not in raw and "xoxb" not in raw
    page = client.get(change_url(row)).content.decode()
    assert SIGNING not in page and BOT not in page and raw not in page
    assert "Signing secret: set" in page and "Bot token: set" in page
    assert "Replace secret: signing secret" in page
    assert "can receive events" in page
    listing = client.get(CHANGELIST).content.decode()
    assert SIGNING not in listing and BOT not in listing


def test_blank_keeps_a_secret_replace_changes_or_removes_it(client, world_a, slack_row):
    client.force_login(world_a.owner)
    url = change_url(slack_row)
    assert client.post(url, {"name": "default", "config_team_id": "T0OTHER"}).status_code == 302
    slack_row.refresh_from_db()
    assert slack_row.config == {"team_id": "T0OTHER"} and slack_row.secrets() == {"signing_secret": SIGNING, "bot_token": BOT}

    # A typed value over a stored secret needs the explicit "replace" (browser autofill guard).
    response = client.post(url, {"name": "default", "secret_bot_token": "xoxb-new-token-1"})
    assert response.status_code == 200 and "tick “replace” to overwrite" in response.content.decode()
    assert "xoxb-new-token-1" not in response.content.decode()  # not echoed back either
    assert client.post(url, {"name": "default", "secret_bot_token": "xoxb-new-token-1", "replace_bot_token": "on"}).status_code == 302
    slack_row.refresh_from_db()
    assert slack_row.secrets() == {"signing_secret": SIGNING, "bot_token": "xoxb-new-token-1"}

    # "replace" with nothing typed removes an optional secret; a required one is refused.
    assert client.post(url, {"name": "default", "replace_bot_token": "on"}).status_code == 302
    slack_row.refresh_from_db()
    assert slack_row.secrets() == {"signing_secret": SIGNING}
    response = client.post(url, {"name": "default", "replace_signing_secret": "on"})
    assert response.status_code == 200 and "is required" in response.content.decode()
    page = client.get(url).content.decode()
    assert "Bot token: not set" in page and "the bot cannot answer" in page


def test_typed_config_is_validated(client, world_a):
    client.force_login(world_a.owner)
    response = client.post(ADD + "?kind=slack", slack_form(world_a, config_team_id="not a team", secret_signing_secret=SIGNING, secret_bot_token="abc"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "A Slack team id looks like T0123ABCD." in page and "should start with xoxb-" in page
    response = client.post(ADD + "?kind=warehouse_postgres", {"tenant": world_a.tenant.pk, "name": "default", "config_schema": "crm", "config_user": "reader", "config_port": "99999"})
    page = response.content.decode()
    assert "less than or equal to 65535" in page
    response = client.post(ADD + "?kind=warehouse_postgres", {"tenant": world_a.tenant.pk, "name": "default", "config_schema": "crm", "config_user": "reader"})
    assert "Give a host, or tick" in response.content.decode()
    assert not ConnectorCredential.objects.unscoped().filter(tenant=world_a.tenant).exists()


def test_each_config_and_secret_error_is_reported_once(client, world_a):
    """The form's config_* fields are cleaned once (not again through clean_config), and a
    refused required secret gets its refusal only, not also "is required"."""
    client.force_login(world_a.owner)
    response = client.post(ADD + "?kind=warehouse_postgres", {"tenant": world_a.tenant.pk, "name": "default", "config_user": "reader", "config_use_app_database": "on"})
    form = response.context["adminform"].form
    assert form.errors["config_schema"] == ["This field is required."]
    response = client.post(ADD + "?kind=salesforce", {"tenant": world_a.tenant.pk, "name": "default", "config_instance_url": "not a url", "secret_access_token": "tok-123456"})
    assert response.context["adminform"].form.errors["config_instance_url"] == ["Enter a valid URL."]
    response = client.post(ADD + "?kind=slack", slack_form(world_a, secret_signing_secret="", secret_bot_token="abc"))
    errors = response.context["adminform"].form.errors
    assert errors["secret_signing_secret"] == ["The signing secret is required."]
    assert errors["secret_bot_token"] == ["Bot token should start with xoxb-"]


def test_a_change_page_decrypts_the_secrets_once(client, world_a, slack_row, monkeypatch):
    """Form class, form, secret status and Slack hints share one decryption (memoised on the row)."""
    from cryptography.fernet import MultiFernet

    calls = []
    real = MultiFernet.decrypt

    def counting(self, token, ttl=None):  # a spy on the library: calls through
        calls.append(1)
        return real(self, token, ttl)

    monkeypatch.setattr(MultiFernet, "decrypt", counting)
    client.force_login(world_a.owner)
    page = client.get(change_url(slack_row)).content.decode()
    assert "Signing secret: set" in page and "can receive events" in page
    assert len(calls) == 1


def test_the_add_form_preselects_the_only_tenant_without_a_count(client, world_a):
    from django.test.utils import CaptureQueriesContext

    client.force_login(world_a.owner)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(ADD + "?kind=slack")
    assert response.context["adminform"].form.fields["tenant"].initial == world_a.tenant
    assert not any("COUNT(" in q["sql"] and "tenants_tenant" in q["sql"] for q in queries)


def test_a_second_connector_with_the_same_name_is_a_form_error(client, world_a, slack_row):
    client.force_login(world_a.owner)
    response = client.post(ADD + "?kind=slack", slack_form(world_a, secret_signing_secret=SIGNING))
    assert response.status_code == 200 and "already has a Slack app connector named" in response.content.decode()


def test_llm_connectors_have_fixed_names(client, world_a):
    client.force_login(world_a.owner)
    response = client.post(ADD + "?kind=llm/openai", {"tenant": world_a.tenant.pk, "config_model": "gpt-x", "config_base_url": "http://localhost:11434/v1", "secret_api_key": "sk-abcdef123456"})
    assert response.status_code == 302
    row = ConnectorCredential.objects.unscoped().get(tenant=world_a.tenant, kind="llm")
    assert row.name == "openai" and row.config == {"model": "gpt-x", "base_url": "http://localhost:11434/v1"}
    assert row.secrets() == {"api_key": "sk-abcdef123456"}
    assert "sk-abcdef123456" not in client.get(change_url(row)).content.decode()


# --- roles and tenants ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["editor", "viewer"])
def test_editors_and_viewers_see_but_cannot_change_or_test(client, world_a, slack_row, role):
    client.force_login(getattr(world_a, role))
    assert client.get(CHANGELIST).status_code == 200
    page = client.get(change_url(slack_row)).content.decode()
    assert SIGNING not in page and BOT not in page and "Test connection" not in page
    assert client.post(change_url(slack_row), {"name": "renamed"}).status_code == 403
    assert client.get(ADD).status_code == 403
    assert client.get(ADD + "?kind=slack").status_code == 403
    assert client.post(check_url(slack_row)).status_code == 403
    delete = reverse("admin:integrations_connectorcredential_delete", args=[slack_row.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    slack_row.refresh_from_db()
    assert slack_row.name == "default"


def test_another_tenants_connector_is_a_404(client, world_a, world_b, slack_row):
    client.force_login(world_b.owner)
    assert client.get(change_url(slack_row)).status_code == 404
    assert client.post(change_url(slack_row), {"name": "x"}).status_code == 404
    assert client.post(check_url(slack_row)).status_code == 404
    assert client.post(reverse("admin:integrations_connectorcredential_delete", args=[slack_row.pk]), {"post": "yes"}).status_code == 404
    assert "T0FAKE" not in client.get(CHANGELIST).content.decode()
    # Nor can B's owner add a connector to tenant A.
    response = client.post(ADD + "?kind=slack", slack_form(world_a, name="mine", secret_signing_secret=SIGNING))
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not ConnectorCredential.objects.unscoped().filter(name="mine").exists()


# --- test connection -----------------------------------------------------------------------------


def test_slack_test_connection_calls_auth_test_on_the_fake(client, world_a, slack_row, fake_slack):  # noqa: F811
    client.force_login(world_a.owner)
    page = client.get(change_url(slack_row)).content.decode()
    assert "Test connection" in page
    response = client.post(check_url(slack_row), follow=True)
    texts = messages_of(response)
    assert any("auth.test answered ok: team T0FAKE, bot user U0BOT" in t for t in texts), texts
    assert any("Set the bot user id to U0BOT" in t for t in texts)
    assert fake_slack.calls("auth.test")[0].authorization == f"Bearer {BOT}"
    fake_slack.errors["auth.test"] = "invalid_auth"
    texts = messages_of(client.post(check_url(slack_row), follow=True))
    assert any("Slack refused auth.test: invalid_auth." in t for t in texts), texts
    assert not any(BOT in t or SIGNING in t for t in texts)


def test_slack_test_connection_when_slack_is_unreachable(client, world_a, slack_row, settings):
    settings.SLACK_API_URL = "http://127.0.0.1:9/api/"  # nothing listens there
    client.force_login(world_a.owner)
    texts = messages_of(client.post(check_url(slack_row), follow=True))
    assert any("Cannot reach Slack at http://127.0.0.1:9/api/" in t for t in texts), texts
    assert not any("Traceback" in t for t in texts)


def test_slack_credential_without_signing_secret_gets_the_404_hint(client, world_a):
    row = credential_set(tenant=world_a.tenant, kind="slack", config={}, secrets={"bot_token": BOT})
    client.force_login(world_a.owner)
    page = client.get(change_url(row)).content.decode()
    assert f"No signing secret: /slack/events/{world_a.tenant.slug} answers 404" in page


def test_warehouse_test_connection_as_the_demo_reader_role(client, world_a, demo_warehouse):  # noqa: F811
    row = credential_set(
        tenant=world_a.tenant, kind="warehouse_postgres",
        config={"schema": demo_warehouse.schema, "user": demo_warehouse.role, "use_app_database": True},
        secrets={"password": demo_warehouse.password},
    )
    client.force_login(world_a.owner)
    texts = messages_of(client.post(check_url(row), follow=True))
    assert any(t.startswith(f"{row}: Connected as {demo_warehouse.role}: SELECT 1 answered;") for t in texts), texts
    assert not any("read-only role" in t for t in texts)  # the demo reader may not write

    # The embedded server trusts local logins, so a failed login is shown with an unknown role
    # and with a port nobody listens on.
    credential_set(
        tenant=world_a.tenant, kind="warehouse_postgres",
        config={"schema": demo_warehouse.schema, "user": "no_such_reader", "use_app_database": True},
        secrets={"password": "wrong-password-123"},
    )
    texts = messages_of(client.post(check_url(row), follow=True))
    assert any("Cannot connect as no_such_reader" in t and "does not exist" in t for t in texts), texts
    credential_set(
        tenant=world_a.tenant, kind="warehouse_postgres",
        config={"schema": demo_warehouse.schema, "user": demo_warehouse.role, "host": "127.0.0.1", "port": 9},
        secrets={"password": "wrong-password-123"},
    )
    texts = messages_of(client.post(check_url(row), follow=True))
    assert any(f"Cannot connect as {demo_warehouse.role}" in t for t in texts), texts
    assert not any("wrong-password-123" in t or "Traceback" in t for t in texts)

    credential_set(
        tenant=world_a.tenant, kind="warehouse_postgres",
        config={"schema": "no_such_schema", "user": demo_warehouse.role, "use_app_database": True},
        secrets={"password": demo_warehouse.password},
    )
    texts = messages_of(client.post(check_url(row), follow=True))
    assert any("schema 'no_such_schema' does not exist" in t for t in texts), texts


@pytest.fixture
def fake_search():
    """A Brave-shaped search API on loopback (plain http, allowed to loopback in tests): answers
    200 for ``good-key-123456``, 401 otherwise."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            token = self.headers.get("X-Subscription-Token")
            seen.append({"path": self.path, "token": token})
            if token != "good-key-123456":
                status, body = 401, {"type": "ErrorResponse", "error": {"detail": f"bad token {token}"}}
            else:
                status, body = 200, {"web": {"results": [{"title": "t", "url": "https://example.com", "description": "d"}]}}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    running = Servers()
    port = running.start(Handler)
    yield f"http://127.0.0.1:{port}/res/v1/", seen
    running.close()


def test_web_search_test_connection_runs_one_query(client, world_a, fake_search):
    base_url, seen = fake_search
    row = credential_set(tenant=world_a.tenant, kind="web_search", config={"base_url": base_url}, secrets={"api_key": "good-key-123456"})
    client.force_login(world_a.owner)
    texts = messages_of(client.post(check_url(row), follow=True))
    assert any("One query answered with 1 result(s)." in t for t in texts), texts
    assert len(seen) == 1 and seen[0]["path"].startswith("/res/v1/web/search?q=RevOps+AI+connection+test")
    credential_set(tenant=world_a.tenant, kind="web_search", config={"base_url": base_url}, secrets={"api_key": "bad-key-987654"})
    texts = messages_of(client.post(check_url(row), follow=True))
    assert any("refused the API key (HTTP 401)" in t for t in texts), texts
    assert not any("bad-key-987654" in t for t in texts)


def test_salesforce_test_connection_reads_the_limits(client, world_a, salesforce_a):  # noqa: F811
    row = ConnectorCredential.objects.unscoped().get(tenant=world_a.tenant, kind="salesforce")
    client.force_login(world_a.owner)
    texts = messages_of(client.post(check_url(row), follow=True))
    assert any("14990 of 15000 daily API requests left" in t for t in texts), texts
    assert salesforce_a.requests[-1][:2] == ("GET", "/services/data/v59.0/limits/")
    credential_set(tenant=world_a.tenant, kind="salesforce", config={"instance_url": salesforce_a.instance_url}, secrets={"access_token": "expired-token-xyz"})
    texts = messages_of(client.post(check_url(row), follow=True))
    assert any("Salesforce answered HTTP 401: INVALID_SESSION_ID." in t for t in texts), texts
    assert not any("expired-token-xyz" in t for t in texts)


def test_test_connection_refuses_internal_addresses_unless_allowlisted(client, world_a, salesforce_a, fake_search):  # noqa: F811
    """The outbound guard applies to "Test connection" as to action delivery: a Salesforce
    instance on 127.0.0.1 is called only while the tenant's policy allowlists it, and a search
    provider on an internal https address is refused before any request."""
    tenant = world_a.tenant
    tenant.settings = {**tenant.settings, "actions": {**tenant.settings.get("actions", {}), "outbound_allowlist": []}}
    tenant.save(update_fields=["settings"])
    row = ConnectorCredential.objects.unscoped().get(tenant=tenant, kind="salesforce")
    calls = len(salesforce_a.requests)
    client.force_login(world_a.owner)
    texts = messages_of(client.post(check_url(row), follow=True))
    assert any("URL refused:" in t and "non-public address" in t for t in texts), texts
    assert len(salesforce_a.requests) == calls  # nothing was sent

    base_url, seen = fake_search
    search = credential_set(tenant=tenant, kind="web_search", config={"base_url": base_url.replace("http://", "https://")}, secrets={"api_key": "good-key-123456"})
    texts = messages_of(client.post(check_url(search), follow=True))
    assert any("URL refused:" in t and "non-public address" in t for t in texts), texts
    search = credential_set(tenant=tenant, kind="web_search", config={"base_url": "https://10.0.0.1/res/v1/"}, secrets={"api_key": "good-key-123456"})
    texts = messages_of(client.post(check_url(search), follow=True))
    assert any("URL refused:" in t and "non-public address (10.0.0.1)" in t for t in texts), texts
    assert seen == []


def test_changelist_action_tests_selected_connectors(client, world_a, slack_row, fake_slack):  # noqa: F811
    client.force_login(world_a.owner)
    response = client.post(CHANGELIST, {"action": "test_connection", "_selected_action": [slack_row.pk]}, follow=True)
    assert any("auth.test answered ok" in t for t in messages_of(response))


def test_a_kind_without_a_form_is_read_only(client, world_a):
    row = credential_set(tenant=world_a.tenant, kind="warehouse_duckdb", config={"region": "us"}, secrets={"access_key": "gong-secret-value"})
    client.force_login(world_a.owner)
    response = client.get(change_url(row))
    page = response.content.decode()
    assert response.status_code == 200 and "gong-secret-value" not in page and "access_key: set" in page
    assert client.post(change_url(row), {"name": "x"}).status_code == 403
