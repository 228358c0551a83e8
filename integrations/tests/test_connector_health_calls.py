"""Client call sites record their outcome on the connector (integrations.health): a Salesforce
update through the real simple-salesforce client against the local fake, and Slack replies
through the real slack_sdk client against the fake Slack."""

from __future__ import annotations

import pytest

from actions.models import ActionStatus
from actions.services import action_approve, action_create
from actions.tests.conftest import reload
from agents.models import Run, RunStatus
from integrations.models import ConnectorCredential
from integrations.tests.fake_slack import fake_slack  # noqa: F401 - the fixture
from integrations.tests.test_slack_events import event_payload
from revops.tests.fixtures.salesforce import OPP_ID
from revops.tests.fixtures.slack import BOT_A, TOKEN_A


def _crm(world, key: str):
    action = action_create(
        tenant=world.tenant, kind="crm_update", idempotency_key=key,
        payload={"object": "Opportunity", "record_id": OPP_ID, "fields": {"StageName": "Closed Won"}},
    ).action
    return action_approve(action=action, via="test")


def _row(world, kind: str) -> ConnectorCredential:
    return ConnectorCredential.objects.for_tenant(world.tenant).get(kind=kind)


@pytest.mark.django_db
def test_salesforce_failures_count_and_the_success_after_them_resets(world_a, salesforce_a, django_capture_on_commit_callbacks):
    salesforce_a.statuses = [503, 503]  # the GET of attempt 1, then of attempt 2; attempt 3 succeeds
    with django_capture_on_commit_callbacks(execute=True):
        action = _crm(world_a, "h1")
    assert reload(action).status == ActionStatus.SUCCEEDED
    row = _row(world_a, "salesforce")
    assert row.consecutive_failures == 0 and row.last_success_at is not None
    assert row.last_error == "Salesforce answered HTTP 503" and row.last_error_at is not None


@pytest.mark.django_db
def test_a_revoked_salesforce_token_is_recorded_without_the_token(world_a, salesforce_a, django_capture_on_commit_callbacks):
    salesforce_a.token = "revoked"
    with django_capture_on_commit_callbacks(execute=True):
        action = _crm(world_a, "h2")
    assert reload(action).status == ActionStatus.FAILED
    row = _row(world_a, "salesforce")
    assert row.consecutive_failures == 1 and row.last_success_at is None
    assert row.last_error == "Salesforce refused the access token (expired or revoked)"


@pytest.mark.django_db
def test_slack_replies_record_success_and_failure(slack_a, fake_slack, deliver):  # noqa: F811
    deliver(event_payload(text=f"<@{BOT_A}> what is the status of the Acme deal?"))
    run = Run.objects.unscoped().get(tenant=slack_a.tenant)  # tests look across tenants
    assert run.status == RunStatus.SUCCEEDED
    row = _row(slack_a, "slack")
    assert row.last_success_at is not None and row.consecutive_failures == 0
    fake_slack.errors["chat.postMessage"] = "invalid_auth"
    deliver(event_payload(text=f"<@{BOT_A}> what is the status of the Globex deal?", event_id="Ev0SECOND", ts="1700000100.000200"))
    row = _row(slack_a, "slack")
    assert row.consecutive_failures >= 1 and "invalid_auth" in row.last_error and TOKEN_A not in row.last_error
