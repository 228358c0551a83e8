"""Admin: tenant-scoped action lists with the audit trail, "retry now" for editors, endpoints."""

from __future__ import annotations

import pytest

from actions.models import Action, ActionStatus, SigningSecret, WebhookEndpoint
from actions.services import action_create
from actions.tests.conftest import reload


@pytest.fixture
def dead_actions(world_a, world_b, endpoint_a, django_capture_on_commit_callbacks):
    endpoint, receiver = endpoint_a(statuses=[500] * 4)
    with django_capture_on_commit_callbacks(execute=True):
        mine = action_create(
            tenant=world_a.tenant, kind="webhook", payload={"endpoint_id": endpoint.pk, "event_type": "x", "data": {}}, idempotency_key="a"
        ).action
    other_endpoint = WebhookEndpoint.objects.unscoped().create(tenant=world_b.tenant, url="https://example.com/hook")
    theirs = action_create(
        tenant=world_b.tenant, kind="webhook", payload={"endpoint_id": other_endpoint.pk, "event_type": "x", "data": {}}, idempotency_key="b"
    ).action
    Action.objects.unscoped().filter(pk=theirs.pk).update(status=ActionStatus.DEAD)
    return reload(mine), reload(theirs), receiver


def test_members_see_their_tenants_actions_only(client, world_a, dead_actions):
    mine, theirs, _ = dead_actions
    client.force_login(world_a.viewer)
    listing = client.get("/admin/actions/action/").content.decode()
    assert f"/admin/actions/action/{mine.pk}/change/" in listing and f"/admin/actions/action/{theirs.pk}/change/" not in listing
    assert client.get(f"/admin/actions/action/{theirs.pk}/change/").status_code == 404
    page = client.get(f"/admin/actions/action/{mine.pk}/change/").content.decode()
    assert "no attempts left" in page  # the audit trail inline


def test_editor_can_retry_now_viewer_cannot(client, world_a, dead_actions, django_capture_on_commit_callbacks):
    mine, theirs, receiver = dead_actions
    client.force_login(world_a.viewer)
    client.post("/admin/actions/action/", {"action": "retry_now", "_selected_action": [mine.pk]})
    assert reload(mine).status == ActionStatus.DEAD
    client.force_login(world_a.editor)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/admin/actions/action/", {"action": "retry_now", "_selected_action": [mine.pk, theirs.pk]})
    assert reload(mine).status == ActionStatus.SUCCEEDED
    assert reload(theirs).status == ActionStatus.DEAD  # another tenant's row is out of reach
    event = mine.events.get(from_status="dead", to_status="queued")
    assert event.actor == world_a.editor and event.actor_label == "admin:acme-a-editor"


def test_adding_an_endpoint_shows_its_secret_once(client, world_a):
    client.force_login(world_a.editor)
    response = client.post(
        "/admin/actions/webhookendpoint/add/",
        {"tenant": world_a.tenant.pk, "url": "https://hooks.example.com/revops", "description": "Ops hub", "enabled": "on"},
        follow=True,
    )
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.unscoped().get(tenant=world_a.tenant)
    secret = SigningSecret.objects.unscoped().get(endpoint=endpoint).secret()
    assert secret.startswith("whsec_") and secret in response.content.decode()
    assert secret not in client.get(f"/admin/actions/webhookendpoint/{endpoint.pk}/change/").content.decode()


def test_unsafe_endpoint_urls_are_refused_in_the_admin(client, world_a, settings):
    settings.ALLOW_HTTP_LOOPBACK_CALLBACKS = False
    client.force_login(world_a.editor)
    response = client.post(
        "/admin/actions/webhookendpoint/add/", {"tenant": world_a.tenant.pk, "url": "http://127.0.0.1:8000/x", "description": "", "enabled": "on"}
    )
    assert response.status_code == 200 and "plain http" in response.content.decode()
    assert not WebhookEndpoint.objects.unscoped().exists()
