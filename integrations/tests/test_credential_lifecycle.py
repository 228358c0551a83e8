"""The credential lifecycle: rotation with a window where both secrets verify (Slack signing
secret through ``connector_set --rotate``), health recording (failures in a row -> unhealthy ->
a success resets), the admin's health column and read-only fields, and ``/readyz``'s list of
unhealthy connectors; secrets never appear in the admin or in ``/readyz``."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from integrations.health import connector_record, connectors_unhealthy
from integrations.models import ConnectorCredential
from integrations.services import credential_set
from integrations.slack.selectors import slack_app_from_credential
from integrations.tests.conftest import post_signed

OLD = "old-signing-secret-0123456789abcdef"
NEW = "new-signing-secret-fedcba9876543210"
BOT = "xoxb-1111-2222-lifecycletoken"
CHALLENGE = {"type": "url_verification", "challenge": "c-123"}
TOKEN = "metrics-token-for-tests-0123456789"


def _slack(world) -> ConnectorCredential:
    return credential_set(tenant=world.tenant, kind="slack", config={"team_id": "TA"}, secrets={"signing_secret": OLD, "bot_token": BOT})


def _rotate(world, tmp_path, *extra: str) -> str:
    path = tmp_path / "new-secret"
    path.write_text(NEW + "\n")
    out = io.StringIO()
    call_command("connector_set", "--tenant", world.tenant.slug, "--kind", "slack", "--secret", f"signing_secret=@{path}", *extra, stdout=out)
    return out.getvalue()


def _row(world, kind: str = "slack") -> ConnectorCredential:
    return ConnectorCredential.objects.for_tenant(world.tenant).get(kind=kind)


# --- rotation ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_during_the_window_both_secrets_verify_then_only_the_new_one(client, world_a, tmp_path):
    _slack(world_a)
    assert post_signed(client, world_a.tenant.slug, CHALLENGE, secret=OLD).status_code == 200
    before = timezone.now()
    output = _rotate(world_a, tmp_path, "--rotate", "--grace-minutes", "30")
    assert "the replaced secrets stay valid until" in output and OLD not in output and NEW not in output
    row = _row(world_a)
    assert row.secrets()["signing_secret"] == NEW and row.secrets()["bot_token"] == BOT  # other secrets kept
    assert before + timedelta(minutes=30) <= row.previous_valid_until <= timezone.now() + timedelta(minutes=30)
    for secret in (NEW, OLD):
        assert post_signed(client, world_a.tenant.slug, CHALLENGE, secret=secret).status_code == 200, secret
    # The window is checked at verification time: just before its end both verify, at its end only the new one.
    app = slack_app_from_credential(row)
    assert app.signing_secrets(now=row.previous_valid_until - timedelta(seconds=1)) == [NEW, OLD]
    assert app.signing_secrets(now=row.previous_valid_until) == [NEW]
    # A rotation with no grace closes the window at once: the secret it replaced (NEW) is refused.
    path = tmp_path / "newer"
    path.write_text("newest-signing-secret-00000000000")
    call_command("connector_set", "--tenant", world_a.tenant.slug, "--kind", "slack", "--secret", f"signing_secret=@{path}", "--rotate", "--grace-minutes", "0", stdout=io.StringIO())
    assert post_signed(client, world_a.tenant.slug, CHALLENGE, secret=NEW).status_code == 401
    assert post_signed(client, world_a.tenant.slug, CHALLENGE, secret=OLD).status_code == 401
    assert post_signed(client, world_a.tenant.slug, CHALLENGE, secret="newest-signing-secret-00000000000").status_code == 200


@pytest.mark.django_db
def test_a_replacement_without_rotate_ends_the_window_at_once(client, world_a, tmp_path):
    _slack(world_a)
    _rotate(world_a, tmp_path, "--rotate")
    assert post_signed(client, world_a.tenant.slug, CHALLENGE, secret=OLD).status_code == 200
    path = tmp_path / "after-leak"
    path.write_text("replacement-secret-after-a-leak-0000")
    call_command("connector_set", "--tenant", world_a.tenant.slug, "--kind", "slack", "--secret", f"signing_secret=@{path}", stdout=io.StringIO())
    row = _row(world_a)
    assert row.previous_secret_token == "" and row.previous_valid_until is None
    for secret in (OLD, NEW):
        assert post_signed(client, world_a.tenant.slug, CHALLENGE, secret=secret).status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize(
    "extra, message",
    [
        (("--grace-minutes", "5"), "--grace-minutes needs --rotate"),
        (("--rotate", "--grace-minutes", "20000"), "between 0 minutes and 7 days"),
        (("--rotate", "--grace-minutes", "-1"), "between 0 minutes and 7 days"),
    ],
)
def test_rotation_bad_input_is_a_clear_error(world_a, tmp_path, extra, message):
    _slack(world_a)
    with pytest.raises(CommandError, match=message):
        _rotate(world_a, tmp_path, *extra)
    assert _row(world_a).secrets()["signing_secret"] == OLD  # nothing changed


@pytest.mark.django_db
def test_rotating_needs_a_stored_connector_and_a_new_secret(world_a, tmp_path):
    with pytest.raises(CommandError, match="no slack connector 'default' with secrets to rotate"):
        _rotate(world_a, tmp_path, "--rotate")
    _slack(world_a)
    with pytest.raises(CommandError, match="at least one new secret"):
        call_command("connector_set", "--tenant", world_a.tenant.slug, "--kind", "slack", "--rotate", stdout=io.StringIO())


# --- health --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_failures_in_a_row_make_a_connector_unhealthy_and_a_success_resets_it(world_a, world_b, settings):
    settings.CONNECTOR_UNHEALTHY_AFTER_FAILURES = 3
    row = _slack(world_a)
    other = _slack(world_b)
    for n in range(1, 3):
        connector_record(row, ok=False, error=f"Slack refused the token {BOT} (invalid_auth), try {n}")
    assert connectors_unhealthy() == []
    connector_record(row, ok=False, error=f"signature with {OLD} refused")
    stored = _row(world_a)
    assert stored.consecutive_failures == 3 and stored.last_error_at is not None
    assert stored.last_error == "signature with [secret] refused"  # redacted
    assert [(u["tenant"], u["kind"], u["name"], u["consecutive_failures"]) for u in connectors_unhealthy()] == [(world_a.tenant.slug, "slack", "default", 3)]
    assert _row(world_b).consecutive_failures == 0 and other.pk != stored.pk  # the other tenant's connector untouched
    connector_record(stored, ok=True)
    stored = _row(world_a)
    assert stored.consecutive_failures == 0 and stored.last_success_at is not None
    assert stored.last_error == "signature with [secret] refused"  # the last error stays for reference
    assert connectors_unhealthy() == []


@pytest.mark.django_db
def test_recording_does_not_move_updated_at(world_a):
    row = _slack(world_a)
    updated = _row(world_a).updated_at
    connector_record(row, ok=False, error="boom")
    connector_record(row, ok=True)
    assert _row(world_a).updated_at == updated  # the Slack secret cache stays valid


@pytest.mark.django_db
def test_the_admin_shows_health_and_never_a_secret(client, world_a, world_b, settings, tmp_path):
    settings.CONNECTOR_UNHEALTHY_AFTER_FAILURES = 2
    _slack(world_a)
    _rotate(world_a, tmp_path, "--rotate")
    row = _row(world_a)
    for _ in range(2):
        connector_record(row, ok=False, error=f"Slack answered invalid_auth for {BOT}")
    client.force_login(world_a.owner)
    listing = client.get(reverse("admin:integrations_connectorcredential_changelist")).content.decode()
    assert "unhealthy (2 failures in a row)" in listing
    page = client.get(reverse("admin:integrations_connectorcredential_change", args=[row.pk])).content.decode()
    assert "Slack answered invalid_auth for [secret]" in page and "Consecutive failures" in page
    assert "also accepted until" in page
    for secret in (OLD, NEW, BOT):
        assert secret not in listing and secret not in page
    # Another tenant's owner gets a 404 on this change page.
    client.force_login(world_b.owner)
    assert client.get(reverse("admin:integrations_connectorcredential_change", args=[row.pk])).status_code == 404


@pytest.mark.django_db
def test_readyz_lists_unhealthy_connectors_only_with_the_token_and_stays_ready(client, world_a, settings):
    settings.METRICS_TOKEN = TOKEN
    settings.CONNECTOR_UNHEALTHY_AFTER_FAILURES = 1
    row = _slack(world_a)
    connector_record(row, ok=False, error=f"refused {BOT}")
    public = client.get("/readyz")
    assert public.status_code == 200 and public.json() == {"status": "ready", "reasons": []}
    full = client.get("/readyz", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    check = full.json()["checks"]["connectors"]
    assert check["ok"] is False and check["required"] is False
    assert [(u["tenant"], u["kind"], u["name"], u["consecutive_failures"]) for u in check["unhealthy"]] == [(world_a.tenant.slug, "slack", "default", 1)]
    text = full.content.decode()
    for secret in (OLD, BOT, "[secret]", "refused"):
        assert secret not in text  # no secret and no error text in the probe
    connector_record(_row(world_a), ok=True)
    assert client.get("/readyz", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").json()["checks"]["connectors"] == {"ok": True, "required": False, "unhealthy": []}


@pytest.mark.django_db
def test_key_rotation_re_encrypts_the_previous_secrets_too(world_a, settings, tmp_path):
    from cryptography.fernet import Fernet

    from integrations.rotation import previous_secrets
    from integrations.services import credentials_rotate

    _slack(world_a)
    _rotate(world_a, tmp_path, "--rotate")
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    assert credentials_rotate() == 1
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key is gone
    row = _row(world_a)
    assert row.secrets()["signing_secret"] == NEW and previous_secrets(row)["signing_secret"] == OLD
