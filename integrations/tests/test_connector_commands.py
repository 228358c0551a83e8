"""connector_set / connector_test / slack_manifest: round trips, secrets only from files or stdin,
clear errors, and a manifest with the right URLs, scopes and events."""

from __future__ import annotations

import io
import json

import pytest
import yaml
from django.core.management import CommandError, call_command

from integrations.models import ConnectorCredential

SIGNING = "cmd-signing-secret-0123456789"
BOT = "xoxb-9999-8888-commandtoken"


def run(*args: str, stdin: str | None = None, monkeypatch=None) -> str:
    out = io.StringIO()
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def secret_files(tmp_path):
    signing = tmp_path / "signing"
    signing.write_text(SIGNING + "\n")
    return {"signing": signing}


def test_connector_set_round_trip_secrets_from_file_and_stdin(world_a, secret_files, monkeypatch):
    out = run(
        "connector_set", "--tenant", world_a.tenant.slug, "--kind", "slack", "--config-json", '{"team_id": "T0FAKE"}',
        "--secret", f"signing_secret=@{secret_files['signing']}", "--secret", "bot_token=-",
        stdin=BOT + "\n", monkeypatch=monkeypatch,
    )
    assert "created slack connector 'default' for tenant acme-a" in out
    assert "signing_secret set, bot_token set" in out
    assert SIGNING not in out and BOT not in out
    row = ConnectorCredential.objects.unscoped().get(tenant=world_a.tenant, kind="slack")
    assert row.config == {"team_id": "T0FAKE"} and row.secrets() == {"signing_secret": SIGNING, "bot_token": BOT}

    # Changing the config keeps secrets not named; --remove-secret removes one.
    out = run("connector_set", "--tenant", world_a.tenant.slug, "--kind", "slack", "--config-json", '{"team_id": "T0OTHER", "bot_user_id": "U0BOT"}', "--remove-secret", "bot_token")
    assert "changed slack connector" in out and "bot_token not set" in out
    assert "hint: No bot token" in out
    row.refresh_from_db()
    assert row.config == {"team_id": "T0OTHER", "bot_user_id": "U0BOT"} and row.secrets() == {"signing_secret": SIGNING}


def test_connector_set_refuses_literal_secrets_without_echoing_them(world_a):
    with pytest.raises(CommandError) as excinfo:
        call_command("connector_set", "--tenant", world_a.tenant.slug, "--kind", "slack", "--secret", f"signing_secret={SIGNING}")
    assert "never taken from the command line" in str(excinfo.value) and SIGNING not in str(excinfo.value)
    assert not ConnectorCredential.objects.unscoped().exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "nope", "--kind", "slack"], "unknown tenant 'nope'"),
        (["--tenant", "acme-a", "--kind", "gopher"], "unknown connector kind 'gopher'"),
        (["--tenant", "acme-a", "--kind", "slack", "--config-json", "{bad"], "--config-json is not valid JSON"),
        (["--tenant", "acme-a", "--kind", "slack", "--config-json", "[1]"], "must be a JSON object"),
        (["--tenant", "acme-a", "--kind", "slack", "--config-json", '{"teamid": "T1"}'], "unknown config key(s) teamid"),
        (["--tenant", "acme-a", "--kind", "warehouse_postgres", "--config-json", '{"schema": "crm", "user": "r", "port": "x"}'], "port: Enter a whole number."),
        (["--tenant", "acme-a", "--kind", "warehouse_postgres", "--config-json", '{"schema": "crm", "user": "r"}'], "Give a host"),
        (["--tenant", "acme-a", "--kind", "slack"], "needs the secret(s) signing_secret"),
        (["--tenant", "acme-a", "--kind", "slack", "--secret", "api_key=@/x"], "slack has no secret 'api_key'"),
        (["--tenant", "acme-a", "--kind", "slack", "--secret", "signing_secret=@/no/such/file"], "cannot read /no/such/file"),
        (["--tenant", "acme-a", "--kind", "llm"], "--kind llm needs --name"),
        (["--tenant", "acme-a", "--kind", "llm/openai", "--name", "other"], "always named 'openai'"),
        (["--tenant", "acme-a", "--kind", "slack", "--name", "Bad Name"], "--name: Use lower-case"),
    ],
)
def test_connector_set_bad_input_is_a_clear_error(world_a, args, message):
    with pytest.raises(CommandError) as excinfo:
        call_command("connector_set", *args)
    assert message in str(excinfo.value)


def test_connector_set_llm_and_warehouse(world_a, tmp_path):
    key = tmp_path / "key"
    key.write_text("sk-local-key-123")
    run("connector_set", "--tenant", "acme-a", "--kind", "llm", "--name", "openai", "--config-json", '{"model": "m", "max_retries": 0}', "--secret", f"api_key=@{key}")
    row = ConnectorCredential.objects.unscoped().get(tenant=world_a.tenant, kind="llm", name="openai")
    assert row.config == {"model": "m", "max_retries": 0}
    assert row.secrets() == {"api_key": "sk-local-key-123"}
    out = run("connector_set", "--tenant", "acme-a", "--kind", "warehouse_postgres", "--name", "insights_writer", "--config-json", '{"use_app_database": true, "schema": "ins", "user": "w", "table": "notes", "port": 5432}')
    assert "config keys port, schema, table, use_app_database, user" in out
    row = ConnectorCredential.objects.unscoped().get(tenant=world_a.tenant, kind="warehouse_postgres", name="insights_writer")
    assert row.config == {"use_app_database": True, "schema": "ins", "user": "w", "table": "notes", "port": 5432}


def test_connector_test_against_the_fake_slack(world_a, secret_files, fake_slack, monkeypatch):  # noqa: F811
    with pytest.raises(CommandError, match="has no slack connector named 'default'"):
        call_command("connector_test", "--tenant", "acme-a", "--kind", "slack")
    run("connector_set", "--tenant", "acme-a", "--kind", "slack", "--secret", f"signing_secret=@{secret_files['signing']}", "--secret", "bot_token=-", stdin=BOT, monkeypatch=monkeypatch)
    out = run("connector_test", "--tenant", "acme-a", "--kind", "slack")
    assert "ok: auth.test answered ok: team T0FAKE, bot user U0BOT." in out
    assert "hint: Set the team id to T0FAKE" in out
    fake_slack.errors["auth.test"] = "token_revoked"
    with pytest.raises(CommandError) as excinfo:
        call_command("connector_test", "--tenant", "acme-a", "--kind", "slack", stdout=io.StringIO())
    assert "Slack refused auth.test: token_revoked." in str(excinfo.value) and BOT not in str(excinfo.value)


def test_connector_test_is_per_tenant(world_a, world_b, secret_files):
    call_command("connector_set", "--tenant", "acme-a", "--kind", "slack", "--secret", f"signing_secret=@{secret_files['signing']}", stdout=io.StringIO())
    with pytest.raises(CommandError, match="tenant globex-b has no slack connector"):
        call_command("connector_test", "--tenant", "globex-b", "--kind", "slack")


def test_slack_manifest_yaml_and_json(world_a):
    manifest = yaml.safe_load(run("slack_manifest", "--tenant", "acme-a", "--host", "revops.example.com"))
    settings_ = manifest["settings"]
    assert settings_["event_subscriptions"]["request_url"] == "https://revops.example.com/slack/events/acme-a"
    assert sorted(settings_["event_subscriptions"]["bot_events"]) == ["app_mention", "message.im"]
    assert settings_["interactivity"] == {"is_enabled": True, "request_url": "https://revops.example.com/slack/interactivity/acme-a"}
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == ["app_mentions:read", "chat:write", "files:write", "im:history"]
    assert manifest["features"]["bot_user"]["display_name"] == "RevOps AI"
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True
    as_json = json.loads(run("slack_manifest", "--tenant", "acme-a", "--host", "https://revops.example.com:8443/", "--format", "json"))
    assert as_json["settings"]["event_subscriptions"]["request_url"] == "https://revops.example.com:8443/slack/events/acme-a"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "nope", "--host", "a.example"], "unknown tenant"),
        (["--tenant", "acme-a", "--host", "http://a.example"], "https only"),
        (["--tenant", "acme-a", "--host", "a.example/path"], "is not a host name"),
        (["--tenant", "acme-a", "--host", "bad host"], "is not a host name"),
    ],
)
def test_slack_manifest_bad_input(world_a, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("slack_manifest", *args)
