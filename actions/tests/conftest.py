"""Fixtures for action tests: fast retries, local receivers, a fake Slack and a fake Salesforce,
the tenant's Slack app, and helpers to sign Slack interactions."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import SignatureVerifier

from actions.models import Action
from actions.services import webhook_endpoint_create
from actions.tests.fakes import Servers, start_fake_salesforce
from integrations.services import credential_set
from integrations.tests.fake_slack import fake_slack  # noqa: F401  (fixture)
from tenants.context import tenant_context

SECRET_A = "signing-secret-of-tenant-a-0123456789"
TOKEN_A = "xoxb-1111-2222-tenantAtoken"
SECRET_B = "signing-secret-of-tenant-b-9876543210"
TOKEN_B = "xoxb-3333-4444-tenantBtoken"
SF_TOKEN = "00Dfake!sessiontoken"
OPP_ID = "0065g00000AbCdEFGH"


@pytest.fixture(autouse=True)
def fast_retries(settings):
    """Backoff in milliseconds, retries in the same worker, 4 attempts."""
    settings.ACTIONS_RETRY_BASE_SECONDS = 0.01
    settings.ACTIONS_RETRY_FACTOR = 2.0
    settings.ACTIONS_INLINE_RETRY_MAX_SECONDS = 5
    settings.ACTIONS_MAX_ATTEMPTS = 4
    settings.ALLOW_HTTP_LOOPBACK_CALLBACKS = True
    return settings


@pytest.fixture
def servers():
    made = Servers()
    yield made
    made.close()


@pytest.fixture
def endpoint_a(world_a, servers):
    """A registered endpoint of tenant A and its receiver (which knows the endpoint's secret)."""

    def make(*, statuses=(), description: str = "CRM sync", **receiver_kwargs):
        receiver = servers.receiver(statuses=list(statuses), **receiver_kwargs)
        endpoint, secret = webhook_endpoint_create(tenant=world_a.tenant, url=receiver.url, description=description)
        receiver.secret = secret
        return endpoint, receiver

    return make


@pytest.fixture
def slack_a(world_a):
    credential_set(
        tenant=world_a.tenant,
        kind="slack",
        config={"team_id": "TA", "bot_user_id": "UBOTA1"},
        secrets={"signing_secret": SECRET_A, "bot_token": TOKEN_A},
    )
    return world_a


@pytest.fixture
def slack_b(world_b):
    credential_set(
        tenant=world_b.tenant,
        kind="slack",
        config={"team_id": "TB", "bot_user_id": "UBOTB1"},
        secrets={"signing_secret": SECRET_B, "bot_token": TOKEN_B},
    )
    return world_b


@pytest.fixture
def salesforce_a(world_a, servers, tmp_path, settings):
    """A fake Salesforce with one opportunity, and tenant A's credential pointing at it (its
    loopback address allowlisted by the tenant's policy, as a private CRM host would be)."""
    fake = start_fake_salesforce(
        servers, tmp_path, token=SF_TOKEN, records={("Opportunity", OPP_ID): {"Name": "Acme renewal", "StageName": "Prospecting"}}
    )
    settings.SALESFORCE_CA_BUNDLE = fake.ca_path
    credential_set(
        tenant=world_a.tenant,
        kind="salesforce",
        config={"instance_url": fake.instance_url, "api_version": "59.0"},
        secrets={"access_token": SF_TOKEN},
    )
    tenant = world_a.tenant
    tenant.settings = {**tenant.settings, "actions": {**tenant.settings.get("actions", {}), "outbound_allowlist": ["127.0.0.1/32"]}}
    tenant.save(update_fields=["settings"])
    return fake


def interaction_body(*, action_id: int, user: str, approve: bool = True, team: str = "TA", channel: str = "C0CHAN", thread_ts: str = "") -> bytes:
    payload = {
        "type": "block_actions",
        "team": {"id": team},
        "user": {"id": user},
        "container": {"type": "message", "channel_id": channel, "message_ts": "1700000000.000009", "thread_ts": thread_ts},
        "channel": {"id": channel},
        "actions": [
            {
                "type": "button",
                "action_id": "revops_action_approve" if approve else "revops_action_reject",
                "block_id": f"revops_action_{action_id}",
                "value": str(action_id),
                "action_ts": str(time.time()),
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def post_interaction(client, slug: str, body: bytes, *, secret: str, timestamp: int | None = None):
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return client.post(
        f"/slack/interactivity/{slug}",
        data=body,
        content_type="application/x-www-form-urlencoded",
        HTTP_X_SLACK_REQUEST_TIMESTAMP=ts,
        HTTP_X_SLACK_SIGNATURE=signature,
    )


def reload(action: Action) -> Action:
    return Action.objects.unscoped().get(pk=action.pk)  # tests look across tenants


def statuses(action: Action) -> list[tuple[str, str]]:
    with tenant_context(action.tenant):
        return [(e.from_status, e.to_status) for e in action.events.order_by("pk")]
