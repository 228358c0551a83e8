"""Fixtures for action tests: fast retries, a registered endpoint with its receiver, and helpers
to sign Slack interactions. Local servers, the fake Salesforce, the fake Slack and the tenants'
Slack apps are shared fixtures (``pytest_plugins`` in the root ``conftest.py``)."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import SignatureVerifier

from actions.models import Action
from actions.services import webhook_endpoint_create
from tenants.context import tenant_context


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
def endpoint_a(world_a, servers):
    """A registered endpoint of tenant A and its receiver (which knows the endpoint's secret)."""

    def make(*, statuses=(), description: str = "CRM sync", **receiver_kwargs):
        receiver = servers.receiver(statuses=list(statuses), **receiver_kwargs)
        endpoint, secret = webhook_endpoint_create(tenant=world_a.tenant, url=receiver.url, description=description)
        receiver.secret = secret
        return endpoint, receiver

    return make








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
