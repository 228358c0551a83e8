"""Approve / Reject in the actions admin (approver roles, audit trail, refused without the
connector the action needs) and "send test event" with the delivery log on webhook endpoints.
CRM updates run against the local fake Salesforce; webhooks against a verifying receiver."""

from __future__ import annotations

import pytest

from actions.models import ActionStatus
from actions.services import action_create
from actions.tests.conftest import reload, statuses
from revops.tests.fixtures.salesforce import OPP_ID


def crm_action(world, key: str = "crm-admin-1"):
    return action_create(
        tenant=world.tenant,
        kind="crm_update",
        payload={"object": "Opportunity", "record_id": OPP_ID, "fields": {"StageName": "Negotiation/Review"}},
        idempotency_key=key,
    ).action


def page(action) -> str:
    return f"/admin/actions/action/{action.pk}/change/"


def test_owner_approves_in_the_admin_and_the_action_runs_against_salesforce(client, world_a, salesforce_a, django_capture_on_commit_callbacks):
    action = crm_action(world_a)
    assert action.status == ActionStatus.PROPOSED
    client.force_login(world_a.owner)
    html = client.get(page(action)).content.decode()
    assert "Approval needed" in html and 'value="Approve"' in html and "cannot be approved" not in html
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/admin/actions/action/{action.pk}/approve/", follow=True)
    assert response.status_code == 200 and "approved and queued" in response.content.decode()
    action = reload(action)
    assert action.status == ActionStatus.SUCCEEDED and action.attempts == 1
    assert action.approved_by == world_a.owner and action.approved_via == "admin:acme-a-owner"
    assert salesforce_a.records[("Opportunity", OPP_ID)]["StageName"] == "Negotiation/Review"
    assert statuses(action) == [("", "proposed"), ("proposed", "approved"), ("approved", "queued"), ("queued", "running"), ("running", "succeeded")]
    event = action.events.get(to_status="approved")
    assert event.actor == world_a.owner and event.note == "approved in the admin"
    # Decided: no buttons any more, and a second approval is refused with the reason.
    assert 'value="Approve"' not in client.get(page(action)).content.decode()
    again = client.post(f"/admin/actions/action/{action.pk}/approve/", follow=True).content.decode()
    assert "only proposed actions can be approved" in again


def test_a_viewer_cannot_approve_and_gets_a_friendly_403(client, world_a, salesforce_a):
    action = crm_action(world_a)
    client.force_login(world_a.viewer)
    html = client.get(page(action)).content.decode()
    assert 'value="Approve"' not in html and "may not approve or reject" in html
    for verb in ("approve", "reject"):
        response = client.post(f"/admin/actions/action/{action.pk}/{verb}/")
        assert response.status_code == 403
        body = response.content.decode()
        assert "You don't have access to this" in body and "owner" in body and "RevOps AI" in body
    assert reload(action).status == ActionStatus.PROPOSED
    assert client.get(f"/admin/actions/action/{action.pk}/approve/").status_code in (403, 405)


def test_approval_is_refused_with_the_reason_when_the_connector_is_missing(client, world_a, django_capture_on_commit_callbacks):
    action = crm_action(world_a)  # tenant A has no Salesforce connector
    client.force_login(world_a.editor)
    html = client.get(page(action)).content.decode()
    assert "This action cannot be approved: no Salesforce connector is configured for this tenant" in html
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/admin/actions/action/{action.pk}/approve/", follow=True)
    assert "was not approved: no Salesforce connector is configured" in response.content.decode()
    action = reload(action)
    assert action.status == ActionStatus.PROPOSED and action.attempts == 0
    # Rejecting stays possible (and is audited with the reason).
    client.post(f"/admin/actions/action/{action.pk}/reject/", {"reason": "no CRM connected yet"})
    action = reload(action)
    assert action.status == ActionStatus.REJECTED and action.last_error == "rejected: no CRM connected yet"
    event = action.events.get(to_status="rejected")
    assert event.actor == world_a.editor and event.actor_label == "admin:acme-a-editor" and event.note == "no CRM connected yet"


def test_another_tenants_action_is_404(client, world_a, world_b, salesforce_a):
    action = crm_action(world_a)
    client.force_login(world_b.owner)
    assert client.get(page(action)).status_code == 404
    assert client.post(f"/admin/actions/action/{action.pk}/approve/").status_code == 404
    assert client.post(f"/admin/actions/action/{action.pk}/reject/").status_code == 404
    assert client.post("/admin/actions/action/999999/approve/").status_code == 404
    assert reload(action).status == ActionStatus.PROPOSED


def test_policy_approver_roles_apply_in_the_admin(client, world_a, salesforce_a):
    tenant = world_a.tenant
    tenant.settings = {**tenant.settings, "actions": {**tenant.settings["actions"], "approver_roles": ["owner"]}}
    tenant.save(update_fields=["settings"])
    action = crm_action(world_a)
    client.force_login(world_a.editor)
    assert client.post(f"/admin/actions/action/{action.pk}/approve/").status_code == 403
    assert reload(action).status == ActionStatus.PROPOSED


@pytest.fixture
def endpoint(endpoint_a):
    return endpoint_a(description="Ops hub")


def test_send_test_event_delivers_a_signed_event_and_shows_in_the_delivery_log(client, world_a, endpoint, django_capture_on_commit_callbacks):
    row, receiver = endpoint
    change = f"/admin/actions/webhookendpoint/{row.pk}/change/"
    client.force_login(world_a.editor)
    html = client.get(change).content.decode()
    assert "Send test event" in html and "No deliveries yet." in html
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/admin/actions/webhookendpoint/{row.pk}/send-test/", follow=True)
    assert "Test event queued as action" in response.content.decode()
    [delivery] = receiver.deliveries
    assert delivery.verified and delivery.json()["type"] == "revops.test"
    assert delivery.json()["data"]["sent_by"] == "acme-a-editor"
    log = client.get(change).content.decode()
    assert "revops.test" in log and "Succeeded" in log and "<td>200</td>" in log


def test_send_test_event_needs_an_editing_role_and_the_right_tenant(client, world_a, world_b, endpoint):
    row, receiver = endpoint
    client.force_login(world_a.viewer)
    assert client.post(f"/admin/actions/webhookendpoint/{row.pk}/send-test/").status_code == 403
    client.force_login(world_b.owner)
    assert client.post(f"/admin/actions/webhookendpoint/{row.pk}/send-test/").status_code == 404
    assert client.get(f"/admin/actions/webhookendpoint/{row.pk}/change/").status_code == 404
    assert receiver.deliveries == []


def test_new_endpoint_form_preselects_the_editors_only_tenant(client, world_a):
    client.force_login(world_a.editor)
    response = client.get("/admin/actions/webhookendpoint/add/")
    assert response.context["adminform"].form.initial["tenant"] == world_a.tenant.pk
