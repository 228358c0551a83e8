"""Fixtures for integration tests (shared ones come from ``pytest_plugins`` in the root conftest):
the Slack signing-secret cache emptied around each test, and signed Slack event delivery."""

from __future__ import annotations

import json
import time

import pytest
from slack_sdk.signature import SignatureVerifier

from actions.tests.fakes import Servers
from integrations.slack.verification import slack_secret_cache_clear
from integrations.tests.fake_salesforce import start_fake_salesforce
from revops.tests.fixtures.slack import SECRET_A


@pytest.fixture(autouse=True)
def _fresh_secret_cache():
    """Each test starts with an empty per-process Slack signing-secret cache."""
    slack_secret_cache_clear()
    yield
    slack_secret_cache_clear()


def post_signed(client, slug: str, payload: dict | bytes, *, secret: str, timestamp: int | None = None, **headers):
    """POST to the tenant's events URL, signed like Slack signs (``X-Slack-Signature``)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return client.post(
        f"/slack/events/{slug}",
        data=body,
        content_type="application/json",
        HTTP_X_SLACK_REQUEST_TIMESTAMP=ts,
        HTTP_X_SLACK_SIGNATURE=signature,
        **headers,
    )


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    """Deliver a signed event to tenant A and run what it enqueued (the run, its ack and answer)."""

    def _deliver(payload, *, slug: str = "acme-a", secret: str = SECRET_A, **headers):
        with django_capture_on_commit_callbacks(execute=True):
            return post_signed(client, slug, payload, secret=secret, **headers)

    return _deliver


@pytest.fixture
def fake_sf(tmp_path, settings):
    """The local fake of the Salesforce REST API (``integrations/tests/fake_salesforce.py``, HTTPS
    on 127.0.0.1 with a self-signed certificate the ``requests`` session trusts), not seeded."""
    servers = Servers()
    fake = start_fake_salesforce(servers, tmp_path)
    settings.SALESFORCE_CA_BUNDLE = fake.ca_path
    yield fake
    servers.close()
