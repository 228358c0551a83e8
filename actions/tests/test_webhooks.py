"""Webhook actions end to end against local receivers that verify Standard Webhooks signatures."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from standardwebhooks import Webhook

from actions.handlers.base import ActionInvalid
from actions.models import Action, ActionStatus, WebhookEndpoint
from integrations.outbound import outbound_check, parse_retry_after
from actions.services import action_create, action_retry_now, actions_dispatch_due, retry_delay, signing_secret_rotate
from actions.tasks import execute_action
from actions.tests.conftest import reload, statuses
from revops.lib.urls import UnsafeURL

ROOT = Path(__file__).resolve().parents[2]


def webhook(world, endpoint, *, key: str = "k1", data: dict | None = None, **kwargs):
    return action_create(
        tenant=world.tenant,
        kind="webhook",
        payload={"endpoint_id": endpoint.pk, "event_type": "deal.risk_alert", "data": data or {"deal": "Acme", "health": 41}},
        idempotency_key=key,
        **kwargs,
    ).action


def test_delivered_once_and_verified_by_the_receiver(world_a, endpoint_a, django_capture_on_commit_callbacks):
    endpoint, receiver = endpoint_a()
    with django_capture_on_commit_callbacks(execute=True):
        action = webhook(world_a, endpoint)
    action = reload(action)
    assert action.status == ActionStatus.SUCCEEDED and action.attempts == 1
    assert len(receiver.deliveries) == 1
    delivery = receiver.deliveries[0]
    assert delivery.verified  # standardwebhooks.Webhook(secret).verify accepted it
    body = Webhook(receiver.secret).verify(delivery.body, delivery.headers)
    assert body["type"] == "deal.risk_alert" and body["data"] == {"deal": "Acme", "health": 41}
    assert delivery.webhook_id == action.webhook_id and delivery.webhook_id.startswith("msg_")
    assert abs(int(delivery.headers["webhook-timestamp"]) - time.time()) < 60
    assert delivery.headers["webhook-signature"].startswith("v1,")
    assert action.result["status_code"] == 200
    assert statuses(action) == [("", "queued"), ("queued", "running"), ("running", "succeeded")]


def test_a_wrong_secret_does_not_verify(world_a, endpoint_a, django_capture_on_commit_callbacks):
    endpoint, receiver = endpoint_a()
    receiver.secret = "whsec_" + "QUJD" * 8  # not the endpoint's secret
    with django_capture_on_commit_callbacks(execute=True):
        webhook(world_a, endpoint)
    assert len(receiver.deliveries) == 1 and not receiver.deliveries[0].verified


def test_fails_twice_then_succeeds_exactly_once_in_three_attempts(world_a, endpoint_a, django_capture_on_commit_callbacks):
    endpoint, receiver = endpoint_a(statuses=[503, 500])
    with django_capture_on_commit_callbacks(execute=True):
        action = webhook(world_a, endpoint)
    action = reload(action)
    assert action.status == ActionStatus.SUCCEEDED and action.attempts == 3
    assert [d.status for d in receiver.deliveries] == [503, 500, 200]
    assert len(receiver.successes()) == 1 and len(receiver.effects) == 1
    assert {d.webhook_id for d in receiver.deliveries} == {action.webhook_id}  # same id on every retry
    assert all(d.verified for d in receiver.deliveries)
    trail = statuses(action)
    assert trail == [("", "queued"), ("queued", "running"), ("running", "running"), ("running", "running"), ("running", "succeeded")]
    notes = [e.note for e in action.events.order_by("pk")]
    assert "attempt 1 of 4 failed: HTTP 503" in notes[2] and "attempt 2 of 4 failed: HTTP 500" in notes[3]


def test_always_failing_receiver_ends_dead_with_nothing_lost_then_retry_now(world_a, endpoint_a, django_capture_on_commit_callbacks, admin_client):
    endpoint, receiver = endpoint_a(statuses=[500] * 4)
    with django_capture_on_commit_callbacks(execute=True):
        action = webhook(world_a, endpoint, data={"deal": "Acme", "note": "keep me"})
    action = reload(action)
    assert action.status == ActionStatus.DEAD and action.attempts == 4 == action.max_attempts
    assert len(receiver.deliveries) == 4 and not receiver.successes()
    assert action.payload["data"] == {"deal": "Acme", "note": "keep me"}  # nothing lost
    assert action.last_error == "HTTP 500" and action.finished_at is not None
    assert statuses(action)[-1] == ("running", "dead")
    # The admin's "retry now" queues it again; the receiver has recovered.
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/admin/actions/action/", {"action": "retry_now", "_selected_action": [action.pk]})
    assert response.status_code == 302
    action = reload(action)
    assert action.status == ActionStatus.SUCCEEDED and len(receiver.successes()) == 1
    assert ("dead", "queued") in statuses(action)


def test_dead_action_visible_in_admin(world_a, endpoint_a, django_capture_on_commit_callbacks, admin_client):
    endpoint, _ = endpoint_a(statuses=[500] * 4)
    with django_capture_on_commit_callbacks(execute=True):
        action = webhook(world_a, endpoint)
    listing = admin_client.get("/admin/actions/action/?status__exact=dead")
    assert listing.status_code == 200 and f"/admin/actions/action/{action.pk}/change/" in listing.content.decode()
    page = admin_client.get(f"/admin/actions/action/{action.pk}/change/").content.decode()
    assert "HTTP 500" in page and "no attempts left" in page


def test_retry_after_is_honoured_and_the_dispatcher_runs_due_retries(world_a, endpoint_a, django_capture_on_commit_callbacks):
    endpoint, receiver = endpoint_a(statuses=[429], headers_for={429: {"Retry-After": "120"}})
    with django_capture_on_commit_callbacks(execute=True):
        action = webhook(world_a, endpoint)
    action = reload(action)
    assert action.status == ActionStatus.QUEUED and action.attempts == 1
    wait = (action.next_attempt_at - timezone.now()).total_seconds()
    assert 110 < wait <= 120
    with django_capture_on_commit_callbacks(execute=True):
        assert actions_dispatch_due()["enqueued"] == 0  # not due yet
    assert execute_action(action.pk) == "skipped"  # an early task delivery does nothing
    Action.objects.unscoped().filter(pk=action.pk).update(next_attempt_at=timezone.now())  # time passes
    with django_capture_on_commit_callbacks(execute=True):
        assert actions_dispatch_due()["enqueued"] == 1
    action = reload(action)
    assert action.status == ActionStatus.SUCCEEDED and action.attempts == 2
    assert [d.status for d in receiver.deliveries] == [429, 200]


def test_backoff_grows_exponentially_with_jitter(settings):
    settings.ACTIONS_RETRY_BASE_SECONDS = 1.0
    settings.ACTIONS_RETRY_FACTOR = 4.0
    settings.ACTIONS_RETRY_MAX_DELAY_SECONDS = 3600
    for attempt, nominal in [(1, 1), (2, 4), (3, 16), (4, 64), (8, 3600)]:
        delays = [retry_delay(attempt=attempt) for _ in range(50)]
        assert all(nominal / 2 <= d <= nominal for d in delays)
        assert len(set(delays)) > 1  # jittered
    assert retry_delay(attempt=1, retry_after=30) == 30
    assert retry_delay(attempt=1, retry_after=10**6) == 3600
    assert parse_retry_after("120") == 120
    assert 0 < parse_retry_after(time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 90))) <= 90
    assert parse_retry_after("soon") is None


def test_gone_disables_the_endpoint(world_a, endpoint_a, django_capture_on_commit_callbacks):
    endpoint, receiver = endpoint_a(statuses=[410])
    with django_capture_on_commit_callbacks(execute=True):
        action = webhook(world_a, endpoint)
    action = reload(action)
    assert action.status == ActionStatus.FAILED and action.attempts == 1 and "410" in action.last_error
    endpoint = WebhookEndpoint.objects.unscoped().get(pk=endpoint.pk)
    assert not endpoint.enabled and "410" in endpoint.disabled_reason
    with pytest.raises(ActionInvalid, match="disabled"):
        webhook(world_a, endpoint, key="k2")


def test_client_errors_are_not_retried(world_a, endpoint_a, django_capture_on_commit_callbacks):
    endpoint, receiver = endpoint_a(statuses=[400])
    with django_capture_on_commit_callbacks(execute=True):
        action = webhook(world_a, endpoint)
    assert reload(action).status == ActionStatus.FAILED and len(receiver.deliveries) == 1


def test_redirect_to_an_internal_address_is_not_followed(world_a, endpoint_a, servers, django_capture_on_commit_callbacks):
    internal = servers.receiver()  # stands for http://169.254.169.254/... or an admin port
    endpoint, receiver = endpoint_a(statuses=[302], headers_for={302: {"Location": internal.url}})
    with django_capture_on_commit_callbacks(execute=True):
        action = webhook(world_a, endpoint)
    action = reload(action)
    assert action.status == ActionStatus.FAILED and "redirect" in action.last_error and "not followed" in action.last_error
    assert len(receiver.deliveries) == 1 and internal.deliveries == []


@pytest.mark.parametrize(
    "url, allow_loopback, message",
    [
        ("https://10.1.2.3/hook", True, "non-public address"),  # private IP
        ("https://192.168.0.10:8443/hook", True, "non-public address"),
        ("https://169.254.169.254/latest/meta-data", True, "non-public address"),  # link-local (cloud metadata)
        ("https://[::ffff:127.0.0.1]/hook", True, "non-public address"),  # IPv4-mapped loopback
        ("https://localhost/hook", False, "non-public address"),  # a DNS name resolving to loopback
        ("http://localhost/hook", False, "plain http"),
        ("http://93.184.216.34/hook", True, "only to loopback"),
        ("https://user:pw@example.com/hook", True, "credentials"),
        ("ftp://example.com/hook", True, "https"),
    ],
)
def test_ssrf_guard_refuses(settings, url, allow_loopback, message):
    settings.ALLOW_HTTP_LOOPBACK_CALLBACKS = allow_loopback
    with pytest.raises(UnsafeURL, match=message):
        outbound_check(url)


def test_ssrf_allowlist_and_loopback_in_development(settings):
    import ipaddress

    settings.ALLOW_HTTP_LOOPBACK_CALLBACKS = False
    target = outbound_check("https://10.1.2.3:8443/hook", allowlist=[ipaddress.ip_network("10.1.0.0/16")])
    assert (target.address, target.port) == ("10.1.2.3", 8443)
    settings.ALLOW_HTTP_LOOPBACK_CALLBACKS = True
    assert outbound_check("http://127.0.0.1:9/hook").address == "127.0.0.1"


def test_delivery_time_guard_refuses_an_endpoint_that_became_internal(world_a, endpoint_a, settings, django_capture_on_commit_callbacks):
    """Registered while loopback was allowed; the check at delivery time refuses it now."""
    endpoint, receiver = endpoint_a()
    settings.ALLOW_HTTP_LOOPBACK_CALLBACKS = False
    with django_capture_on_commit_callbacks(execute=True):
        action = webhook(world_a, endpoint)
    action = reload(action)
    assert action.status == ActionStatus.FAILED and "plain http" in action.last_error
    assert receiver.deliveries == []


def test_secret_rotation_sends_one_signature_per_active_secret(world_a, endpoint_a, django_capture_on_commit_callbacks):
    endpoint, receiver = endpoint_a()
    old = receiver.secret
    new = signing_secret_rotate(tenant=world_a.tenant, endpoint=endpoint, grace=dt.timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        webhook(world_a, endpoint)
    delivery = receiver.deliveries[0]
    assert len(delivery.headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):  # a receiver on either secret accepts it
        Webhook(secret).verify(delivery.body, delivery.headers)
    # After the grace period only the new secret signs.
    from actions.models import SigningSecret

    SigningSecret.objects.unscoped().filter(endpoint=endpoint, expires_at__isnull=False).update(expires_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        webhook(world_a, endpoint, key="k2")
    assert len(receiver.deliveries[1].headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(receiver.deliveries[1].body, receiver.deliveries[1].headers)


def test_repeated_idempotency_key_returns_the_first_action(world_a, world_b, endpoint_a, django_capture_on_commit_callbacks):
    endpoint, receiver = endpoint_a()
    with django_capture_on_commit_callbacks(execute=True):
        first = webhook(world_a, endpoint, key="same")
        again = webhook(world_a, endpoint, key="same", data={"different": True})
    assert again.pk == first.pk and len(receiver.deliveries) == 1
    # The key is unique per tenant, not globally.
    other_endpoint = WebhookEndpoint.objects.unscoped().create(tenant=world_b.tenant, url="https://example.com/hook")
    other = action_create(
        tenant=world_b.tenant, kind="webhook", payload={"endpoint_id": other_endpoint.pk, "event_type": "x", "data": {}}, idempotency_key="same"
    )
    assert other.created and other.action.pk != first.pk


def test_another_tenants_endpoint_is_refused(world_a, world_b):
    other_endpoint = WebhookEndpoint.objects.unscoped().create(tenant=world_b.tenant, url="https://example.com/hook")
    with pytest.raises(ActionInvalid, match="no such webhook endpoint"):
        action_create(tenant=world_a.tenant, kind="webhook", payload={"endpoint_id": other_endpoint.pk, "event_type": "x", "data": {}}, idempotency_key="k")


def test_duplicate_task_delivery_does_not_deliver_twice(world_a, endpoint_a):
    endpoint, receiver = endpoint_a()
    action = webhook(world_a, endpoint)  # on-commit enqueue not executed: we play the broker
    assert execute_action(action.pk) == "succeeded"
    assert execute_action(action.pk) == "skipped"
    assert len(receiver.deliveries) == 1


def test_a_worker_stuck_past_its_lease_cannot_store_its_outcome(world_a, endpoint_a, django_capture_on_commit_callbacks):
    endpoint, receiver = endpoint_a()
    action = webhook(world_a, endpoint)
    Action.objects.unscoped().filter(pk=action.pk).update(status=ActionStatus.RUNNING, attempts=1, claimed_until=timezone.now() - dt.timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert actions_dispatch_due()["recovered"] == 1
    action = reload(action)
    assert action.status == ActionStatus.QUEUED and "worker stopped" in action.last_error


def test_the_last_attempt_lost_to_a_dead_worker_is_dead(world_a, endpoint_a):
    endpoint, _ = endpoint_a()
    action = webhook(world_a, endpoint)
    Action.objects.unscoped().filter(pk=action.pk).update(status=ActionStatus.RUNNING, attempts=4, claimed_until=timezone.now() - dt.timedelta(seconds=1))
    assert actions_dispatch_due()["dead"] == 1
    assert reload(action).status == ActionStatus.DEAD


def test_retry_now_only_for_dead_or_failed(world_a, endpoint_a):
    endpoint, _ = endpoint_a()
    action = webhook(world_a, endpoint)
    assert action_retry_now(action=action, via="test") is False


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_delivery_is_retried_with_the_same_webhook_id(world_a, endpoint_a, django_capture_on_commit_callbacks):
    """A real worker process is SIGKILLed while the receiver holds its request: the receiver
    already applied the delivery; the dispatcher requeues the action once its lease runs out;
    the retry carries the same webhook-id, so the receiver does not apply it twice."""
    endpoint, receiver = endpoint_a(hold_first=True)
    action = webhook(world_a, endpoint, enqueue=False)  # committed (transactional test): visible to the worker
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "revops.settings_test", "DATABASE_NAME_OVERRIDE": connection.settings_dict["NAME"]}
    code = f"import django; django.setup(); from actions.tasks import execute_action; execute_action({action.pk})"
    worker = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert receiver.got_first.wait(timeout=60), "the worker never called the receiver"
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        receiver.release.set()
        if worker.poll() is None:
            worker.kill()
    action = reload(action)
    assert action.status == ActionStatus.RUNNING and action.attempts == 1  # the worker died holding it
    assert len(receiver.effects) == 1  # the receiver had applied it
    Action.objects.unscoped().filter(pk=action.pk).update(claimed_until=timezone.now() - dt.timedelta(seconds=1))  # the lease runs out
    assert actions_dispatch_due()["recovered"] == 1
    time.sleep(0.1)  # the (fast) backoff delay
    assert actions_dispatch_due()["enqueued"] == 1  # on_commit runs at once here; the sync broker executes it
    action = reload(action)
    assert action.status == ActionStatus.SUCCEEDED and action.attempts == 2
    assert len(receiver.deliveries) == 2
    assert receiver.deliveries[0].webhook_id == receiver.deliveries[1].webhook_id == action.webhook_id
    assert len(receiver.effects) == 1  # no duplicate side effect
    assert ("running", "queued") in statuses(action)
