"""Approval: the tenant policy, Block Kit prompts in the Slack thread, signed interactions (only
approvers may decide), and the REST approve/reject endpoints. CRM updates run against a local
fake Salesforce through simple-salesforce."""

from __future__ import annotations

import json
import time

import pytest
from slack_sdk.signature import SignatureVerifier

from actions.models import Action, ActionStatus
from actions.services import action_create
from actions.tests.conftest import interaction_body, post_interaction, reload, statuses
from agents.models import Run
from agents.services import run_create
from revops.tests.fixtures.salesforce import OPP_ID
from revops.tests.fixtures.slack import SECRET_A, SECRET_B
from tenants.models import Membership

THREAD = {"channel": "C0CHAN", "thread_ts": "1700000001.000100", "user": "UHUMAN1"}


def set_slack_id(world, user, slack_id: str) -> None:
    Membership.objects.filter(tenant=world.tenant, user=user).update(slack_user_id=slack_id)


def crm_action(world, *, run=None, key: str = "crm-1", stage: str = "Negotiation/Review") -> Action:
    return action_create(
        tenant=world.tenant,
        kind="crm_update",
        payload={"object": "Opportunity", "record_id": OPP_ID, "fields": {"StageName": stage}},
        idempotency_key=key,
        run=run,
    ).action


@pytest.fixture
def slack_run(slack_a):
    return run_create(tenant=slack_a.tenant, channel="slack", query="update the opportunity", reply_to={"slack": THREAD}, enqueue=False)


@pytest.fixture
def proposed(slack_a, slack_run, salesforce_a, fake_slack, django_capture_on_commit_callbacks):
    """A CRM update proposed by a Slack run, its approval prompt posted in the thread."""
    with django_capture_on_commit_callbacks(execute=True):
        action = crm_action(slack_a, run=slack_run)
    return reload(action)


def test_crm_update_waits_for_approval_then_a_signed_slack_approval_executes_it_once(
    client, slack_a, proposed, salesforce_a, fake_slack, django_capture_on_commit_callbacks
):
    action = proposed
    assert action.status == ActionStatus.PROPOSED and action.attempts == 0
    assert salesforce_a.requests == []  # nothing written before approval
    prompt = fake_slack.messages()[-1]
    assert (prompt["channel"], prompt["thread_ts"]) == (THREAD["channel"], THREAD["thread_ts"])
    buttons = next(b for b in prompt["blocks"] if b["type"] == "actions")["elements"]
    assert [(b["action_id"], b["value"]) for b in buttons] == [("revops_action_approve", str(action.pk)), ("revops_action_reject", str(action.pk))]
    assert "StageName" in json.dumps(prompt["blocks"]) and action.approval_message["ts"]

    set_slack_id(slack_a, slack_a.owner, "UOWNER1")
    body = interaction_body(action_id=action.pk, user="UOWNER1", thread_ts=THREAD["thread_ts"])
    with django_capture_on_commit_callbacks(execute=True):
        response = post_interaction(client, "acme-a", body, secret=SECRET_A)
    assert response.status_code == 200
    action = reload(action)
    assert action.status == ActionStatus.SUCCEEDED and action.attempts == 1
    assert action.approved_by == slack_a.owner and action.approved_via == "slack:UOWNER1"
    assert [r[2] for r in salesforce_a.patches()] == [{"StageName": "Negotiation/Review"}]
    assert salesforce_a.records[("Opportunity", OPP_ID)]["StageName"] == "Negotiation/Review"
    assert action.result["before"] == {"StageName": "Prospecting"}
    assert statuses(action) == [
        ("", "proposed"), ("proposed", "approved"), ("approved", "queued"), ("queued", "running"), ("running", "succeeded"),
    ]
    assert any("Approved by <@UOWNER1>" in json.dumps(c.body) for c in fake_slack.calls("chat.update"))

    # A second click (or Slack's retry of the same one) changes nothing.
    with django_capture_on_commit_callbacks(execute=True):
        assert post_interaction(client, "acme-a", body, secret=SECRET_A).status_code == 200
    assert len(salesforce_a.patches()) == 1
    assert "Nothing changed" in fake_slack.calls("chat.postEphemeral")[-1].body["text"]


@pytest.mark.parametrize("who", ["stranger", "viewer", "other_tenant_owner"])
def test_an_outsider_cannot_approve(client, slack_a, slack_b, proposed, salesforce_a, fake_slack, django_capture_on_commit_callbacks, world_b, who):
    set_slack_id(slack_a, slack_a.viewer, "UVIEWER")
    set_slack_id(world_b, world_b.owner, "UOWNERB")
    user = {"stranger": "UNOBODY", "viewer": "UVIEWER", "other_tenant_owner": "UOWNERB"}[who]
    with django_capture_on_commit_callbacks(execute=True):
        response = post_interaction(client, "acme-a", interaction_body(action_id=proposed.pk, user=user), secret=SECRET_A)
    assert response.status_code == 200
    action = reload(proposed)
    assert action.status == ActionStatus.PROPOSED and action.approved_by is None
    assert salesforce_a.requests == []
    ephemeral = fake_slack.calls("chat.postEphemeral")[-1].body
    assert ephemeral["user"] == user and "not allowed" in ephemeral["text"]


def test_forged_or_stale_or_misrouted_interactions_are_refused(client, slack_a, slack_b, proposed, salesforce_a, django_capture_on_commit_callbacks, world_b):
    set_slack_id(slack_a, slack_a.owner, "UOWNER1")
    body = interaction_body(action_id=proposed.pk, user="UOWNER1")
    assert post_interaction(client, "acme-a", body, secret=SECRET_B).status_code == 401  # tenant B's secret
    assert post_interaction(client, "acme-a", body, secret=SECRET_A, timestamp=int(time.time()) - 600).status_code == 401
    assert client.post("/slack/interactivity/acme-a", data=body, content_type="application/x-www-form-urlencoded").status_code == 401
    assert post_interaction(client, "no-such-tenant", body, secret=SECRET_A).status_code == 404
    # Tenant B's approver, on tenant B's URL, cannot reach tenant A's action.
    set_slack_id(world_b, world_b.owner, "UOWNERB")
    with django_capture_on_commit_callbacks(execute=True):
        response = post_interaction(client, "globex-b", interaction_body(action_id=proposed.pk, user="UOWNERB", team="TB"), secret=SECRET_B)
    assert response.status_code == 200
    assert reload(proposed).status == ActionStatus.PROPOSED and salesforce_a.requests == []


def test_reject_in_slack(client, slack_a, proposed, salesforce_a, fake_slack, django_capture_on_commit_callbacks):
    set_slack_id(slack_a, slack_a.editor, "UEDITOR")
    with django_capture_on_commit_callbacks(execute=True):
        post_interaction(client, "acme-a", interaction_body(action_id=proposed.pk, user="UEDITOR", approve=False), secret=SECRET_A)
    action = reload(proposed)
    assert action.status == ActionStatus.REJECTED and salesforce_a.requests == []
    assert any("Rejected by <@UEDITOR>" in json.dumps(c.body) for c in fake_slack.calls("chat.update"))


def test_policy_can_restrict_approvers(client, slack_a, proposed, salesforce_a, django_capture_on_commit_callbacks):
    tenant = slack_a.tenant
    tenant.settings = {**tenant.settings, "actions": {**tenant.settings["actions"], "approver_roles": ["owner"]}}
    tenant.save()
    set_slack_id(slack_a, slack_a.editor, "UEDITOR")
    with django_capture_on_commit_callbacks(execute=True):
        post_interaction(client, "acme-a", interaction_body(action_id=proposed.pk, user="UEDITOR"), secret=SECRET_A)
    assert reload(proposed).status == ActionStatus.PROPOSED


def test_default_policy(world_a, fake_slack, slack_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notify = action_create(tenant=world_a.tenant, kind="slack_notify", payload={"channel": "#deals", "text": "hi"}, idempotency_key="n").action
        crm = crm_action(world_a)
    assert reload(notify).status == ActionStatus.SUCCEEDED
    assert reload(crm).status == ActionStatus.PROPOSED


def test_policy_can_let_crm_updates_run(world_a, salesforce_a, django_capture_on_commit_callbacks):
    tenant = world_a.tenant
    tenant.settings = {**tenant.settings, "actions": {**tenant.settings["actions"], "auto_approve": ["crm_update"]}}
    tenant.save()
    with django_capture_on_commit_callbacks(execute=True):
        action = crm_action(world_a)
    assert reload(action).status == ActionStatus.SUCCEEDED and len(salesforce_a.patches()) == 1


# --- REST API ------------------------------------------------------------------------------------


def test_api_approve_executes_once(client, world_a, salesforce_a, django_capture_on_commit_callbacks):
    action = crm_action(world_a)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/v1/actions/{action.pk}/approve", content_type="application/json", **world_a.approver_auth())
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "queued" and body["approved_via"].startswith("api-key:")  # executed after commit
    body = client.get(f"/api/v1/actions/{action.pk}", **world_a.auth()).json()
    assert body["status"] == "succeeded" and body["result"]["before"] == {"StageName": "Prospecting"}
    assert [e["to_status"] for e in body["events"]] == ["proposed", "approved", "queued", "running", "succeeded"]
    assert len(salesforce_a.patches()) == 1
    again = client.post(f"/api/v1/actions/{action.pk}/approve", content_type="application/json", **world_a.approver_auth())
    assert again.status_code == 409 and "succeeded" in again.json()["error"]["message"]
    assert len(salesforce_a.patches()) == 1


def test_api_reject(client, world_a, salesforce_a):
    action = crm_action(world_a)
    response = client.post(f"/api/v1/actions/{action.pk}/reject", data={"reason": "wrong stage"}, content_type="application/json", **world_a.approver_auth())
    assert response.status_code == 200 and response.json()["status"] == "rejected"
    assert reload(action).last_error == "rejected: wrong stage" and salesforce_a.requests == []
    assert client.post(f"/api/v1/actions/{action.pk}/approve", content_type="application/json", **world_a.approver_auth()).status_code == 409


def test_api_other_tenant_gets_404(client, world_a, world_b, salesforce_a):
    action = crm_action(world_a)
    for path in (f"/api/v1/actions/{action.pk}/approve", f"/api/v1/actions/{action.pk}/reject"):
        assert client.post(path, content_type="application/json", **world_b.approver_auth()).status_code == 404
    assert client.get(f"/api/v1/actions/{action.pk}", **world_b.auth()).status_code == 404
    assert client.post("/api/v1/actions/999999/approve", content_type="application/json", **world_a.approver_auth()).status_code == 404
    assert client.post(f"/api/v1/actions/{action.pk}/approve", content_type="application/json").status_code == 401
    assert reload(action).status == ActionStatus.PROPOSED and salesforce_a.requests == []
    assert client.get(f"/api/v1/actions/{action.pk}", **world_a.auth()).json()["status"] == "proposed"


def test_api_key_without_approval_right_gets_403(client, world_a, salesforce_a):
    action = crm_action(world_a)
    response = client.post(f"/api/v1/actions/{action.pk}/approve", content_type="application/json", **world_a.auth())
    assert response.status_code == 403 and "--can-approve" in response.json()["error"]["message"]
    assert reload(action).status == ActionStatus.PROPOSED and salesforce_a.requests == []


# --- the whole path: a Slack question -> execution agent -> prompt -> approval -> CRM ---------------


def test_slack_request_to_update_the_crm_is_proposed_then_approved_in_slack(
    client, slack_a, salesforce_a, fake_slack, django_capture_on_commit_callbacks
):
    set_slack_id(slack_a, slack_a.owner, "UOWNER1")
    payload = {
        "type": "event_callback",
        "team_id": "TA",
        "event_id": "Ev0CRM1",
        "event": {
            "type": "app_mention", "user": "UHUMAN1", "channel": "C0CHAN", "ts": "1700000001.000100",
            "text": f"<@UBOTA1> Update opp {OPP_ID}: set the stage to Negotiation/Review",
        },
        "authorizations": [{"team_id": "TA", "user_id": "UBOTA1", "is_bot": True}],
    }
    body = json.dumps(payload).encode()
    ts = str(int(time.time()))
    signature = SignatureVerifier(SECRET_A).generate_signature(timestamp=ts, body=body)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/slack/events/acme-a", data=body, content_type="application/json",
            HTTP_X_SLACK_REQUEST_TIMESTAMP=ts, HTTP_X_SLACK_SIGNATURE=signature,
        )
    assert response.status_code == 200
    run = Run.objects.unscoped().get(tenant=slack_a.tenant)
    assert run.status == "succeeded", run.error
    action = Action.objects.unscoped().get(run=run)
    assert action.kind == "crm_update" and action.status == ActionStatus.PROPOSED
    assert action.payload == {"object": "Opportunity", "record_id": OPP_ID, "fields": {"StageName": "Negotiation/Review"}}
    assert f"**Action {action.pk}**" in run.answer_markdown and "awaiting approval" in run.answer_markdown
    assert salesforce_a.requests == []
    prompts = [m for m in fake_slack.messages() if m.get("blocks")]
    assert len(prompts) == 1 and prompts[0]["thread_ts"] == payload["event"]["ts"]

    with django_capture_on_commit_callbacks(execute=True):
        post_interaction(client, "acme-a", interaction_body(action_id=action.pk, user="UOWNER1"), secret=SECRET_A)
    assert reload(action).status == ActionStatus.SUCCEEDED
    assert [r[2] for r in salesforce_a.patches()] == [{"StageName": "Negotiation/Review"}]


def test_prompt_of_an_api_run_goes_to_the_policys_approval_channel(slack_a, salesforce_a, fake_slack, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        crm_action(slack_a, key="no-channel")
    assert fake_slack.messages() == []  # no Slack thread and no approval channel: API approval only
    tenant = slack_a.tenant
    tenant.settings = {**tenant.settings, "actions": {**tenant.settings["actions"], "approval_channel": "CAPPROVE"}}
    tenant.save()
    with django_capture_on_commit_callbacks(execute=True):
        action = crm_action(slack_a, key="with-channel")
    prompt = fake_slack.messages()[-1]
    assert prompt["channel"] == "CAPPROVE" and "thread_ts" not in prompt and str(action.pk) in prompt["text"]
