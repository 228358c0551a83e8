"""Run callbacks (``callback_url``) go through the same signed, retried webhook delivery."""

from __future__ import annotations

import datetime as dt
import io

from django.core.management import call_command
from standardwebhooks import Webhook

from actions.models import Action, ActionStatus
from agents.callbacks import callback_deliver
from agents.models import Run
from tenants.context import tenant_context


def finished_run(world, url: str) -> Run:
    return Run.objects.unscoped().create(
        tenant=world.tenant, channel="api", query="What is the win rate?", as_of=dt.date(2025, 6, 30), status="succeeded",
        answer_markdown="**42%**", callback_url=url, source_system="crm", source_process="weekly",
    )


def callback_secret(world) -> str:
    out = io.StringIO()
    call_command("signing_secret", tenant=world.tenant.slug, stdout=out)
    return out.getvalue().split()[-1]


def test_callback_is_signed_with_the_tenants_callback_secret(world_a, servers):
    receiver = servers.receiver()
    receiver.secret = callback_secret(world_a)
    run = finished_run(world_a, receiver.url)
    with tenant_context(world_a.tenant):
        assert callback_deliver(run=run) == "delivered: HTTP 200"
    delivery = receiver.deliveries[0]
    assert delivery.verified
    body = Webhook(receiver.secret).verify(delivery.body, delivery.headers)
    assert body["type"] == "run.completed" and body["tracking_id"] == str(run.tracking_id)
    assert (body["source_system"], body["answer"]) == ("crm", "**42%**")
    action = Action.objects.unscoped().get(run=run)
    assert delivery.webhook_id == action.webhook_id and action.requested_via == "callback"
    assert Run.objects.unscoped().get(pk=run.pk).callback_status == "delivered: HTTP 200"
    # Delivering again (the run was re-executed) sends nothing new.
    with tenant_context(world_a.tenant):
        assert callback_deliver(run=run) == "delivered: HTTP 200"
    assert len(receiver.deliveries) == 1


def test_callback_retries_then_dies_with_the_reason(world_a, servers):
    receiver = servers.receiver(statuses=[503] * 4)
    run = finished_run(world_a, receiver.url)
    with tenant_context(world_a.tenant):
        status = callback_deliver(run=run)
    assert status == "failed after 4 attempts: HTTP 503"
    assert len({d.webhook_id for d in receiver.deliveries}) == 1 and len(receiver.deliveries) == 4
    assert Action.objects.unscoped().get(run=run).status == ActionStatus.DEAD


def test_callback_retry_later_is_reported_then_finished_by_the_dispatcher(world_a, servers, settings, django_capture_on_commit_callbacks):
    from django.utils import timezone

    from actions.services import actions_dispatch_due

    receiver = servers.receiver(statuses=[503])
    settings.ACTIONS_INLINE_RETRY_MAX_SECONDS = 0  # every retry goes through the dispatcher
    run = finished_run(world_a, receiver.url)
    with tenant_context(world_a.tenant):
        assert callback_deliver(run=run).startswith("retrying: attempt 2 of 4")
    Action.objects.unscoped().filter(run=run).update(next_attempt_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        actions_dispatch_due()
    assert Run.objects.unscoped().get(pk=run.pk).callback_status == "delivered: HTTP 200"


def test_callback_to_an_internal_address_is_refused(world_a, settings):
    settings.ALLOW_HTTP_LOOPBACK_CALLBACKS = False
    run = finished_run(world_a, "https://localhost:9/hook")
    with tenant_context(world_a.tenant):
        status = callback_deliver(run=run)
    assert status.startswith("not delivered:") and "non-public address" in status


def test_callback_secret_rotation_command(world_a):
    first = callback_secret(world_a)
    out = io.StringIO()
    call_command("signing_secret", tenant=world_a.tenant.slug, rotate=True, stdout=out)
    new = out.getvalue().split()[-1]
    assert new.startswith("whsec_") and new != first
    listed = io.StringIO()
    call_command("signing_secret", tenant=world_a.tenant.slug, stdout=listed)
    assert listed.getvalue().split() == [new, first]  # both sign until the old one expires
