""""Test connection" of a Salesforce connector renews the access token as a sync would: a
credential with only a refresh token (no access token yet) and one whose stored token expired
both pass, through the real simple-salesforce and requests clients against the local fake
(``integrations/tests/fake_salesforce.py``); a fixed token that expired, a refused grant and a
login host outside the tenant's outbound allowlist fail with a reason and send nothing secret."""

from __future__ import annotations

import pytest

from integrations.connector_checks import connector_check
from integrations.models import ConnectorCredential
from integrations.services import credential_set
from tenants.services import tenant_create

pytestmark = pytest.mark.django_db


def _credential(fake, *, allowlist=("127.0.0.1/32",), secrets: dict | None = None, **config) -> ConnectorCredential:
    tenant = tenant_create(slug="sfcheck", name="SF check", settings={"actions": {"outbound_allowlist": list(allowlist)}})
    return credential_set(
        tenant=tenant, kind="salesforce",
        config={"instance_url": fake.instance_url, "login_url": fake.instance_url, "client_id": fake.client_id, "api_version": "59.0", **config},
        secrets=secrets if secrets is not None else {"refresh_token": fake.refresh_token, "client_secret": fake.client_secret},
    )


def _paths(fake) -> list[tuple[str, str]]:
    return [(method, path.split("?")[0]) for method, path in fake.requests]


def test_a_refresh_token_without_an_access_token_gets_one_then_reads_the_limits(fake_sf):
    result = connector_check(credential=_credential(fake_sf))
    assert result.ok, result.message
    assert "with a new access token from the refresh token grant" in result.message
    assert "14999 of 15000 daily API requests left" in result.message  # the limits GET is the one request counted
    assert _paths(fake_sf) == [("POST", "/services/oauth2/token"), ("GET", "/services/data/v59.0/limits/")]


def test_an_expired_stored_token_is_renewed_once(fake_sf):
    credential = _credential(fake_sf, secrets={"refresh_token": fake_sf.refresh_token, "client_secret": fake_sf.client_secret, "access_token": "stale-token-123456"})
    result = connector_check(credential=credential)
    assert result.ok, result.message
    assert "with a new access token" in result.message
    assert _paths(fake_sf) == [("GET", "/services/data/v59.0/limits/"), ("POST", "/services/oauth2/token"), ("GET", "/services/data/v59.0/limits/")]
    assert "stale-token-123456" not in result.message
    credential.refresh_from_db()
    assert credential.secrets()["access_token"] == "stale-token-123456"  # a check stores nothing


def test_a_valid_stored_token_needs_no_renewal(fake_sf):
    token = fake_sf.issue_token()
    result = connector_check(credential=_credential(fake_sf, secrets={"refresh_token": fake_sf.refresh_token, "access_token": token}))
    assert result.ok and "new access token" not in result.message, result.message
    assert _paths(fake_sf) == [("GET", "/services/data/v59.0/limits/")]


def test_an_expired_fixed_token_fails_with_the_reason(fake_sf):
    result = connector_check(credential=_credential(fake_sf, client_id="", secrets={"access_token": "expired-fixed-token-42"}))
    assert not result.ok
    assert "HTTP 401: INVALID_SESSION_ID" in result.message and "no refresh token or JWT key" in result.message
    assert "expired-fixed-token-42" not in result.message
    assert ("POST", "/services/oauth2/token") not in _paths(fake_sf)


def test_a_refused_grant_fails_with_salesforce_s_error_code(fake_sf):
    result = connector_check(credential=_credential(fake_sf, secrets={"refresh_token": "not-the-right-refresh-token", "client_secret": fake_sf.client_secret}))
    assert not result.ok
    assert "No new access token" in result.message and "invalid_grant" in result.message
    assert "not-the-right-refresh-token" not in result.message
    assert not any(method == "GET" for method, _ in _paths(fake_sf))


def test_an_incomplete_credential_names_what_is_missing(fake_sf):
    result = connector_check(credential=_credential(fake_sf, client_id="", secrets={"refresh_token": "rt-0000000000"}))
    assert not result.ok and "The connector is incomplete" in result.message and "client_id" in result.message
    assert fake_sf.requests == []


def test_the_login_host_passes_the_outbound_guard_before_any_request(fake_sf):
    result = connector_check(credential=_credential(fake_sf, allowlist=()))
    assert not result.ok and "URL refused:" in result.message, result.message
    assert fake_sf.requests == []


def test_an_instance_url_from_the_token_answer_passes_the_guard_too(fake_sf):
    fake_sf.token_instance_url = "https://10.20.30.40"  # a token endpoint pointing the check inside the network
    result = connector_check(credential=_credential(fake_sf))
    assert not result.ok and "URL refused:" in result.message, result.message
    assert _paths(fake_sf) == [("POST", "/services/oauth2/token")]  # nothing was sent to 10.20.30.40
