"""Issue 13, findings 1, 2 and 6 on the Slack side: validly signed bodies that used to reach a 500
(100,000-level nesting, ``"authorizations": 5``, a NUL in the question, interactivity with
``"team": "TA"`` or ``"container": [1]``) and the retried run that posted a second "Working on it…".

Requests are signed with the tenant's real signing secret, so each case gets past verification
exactly as Slack's own request would; replies go through the real ``slack_sdk`` client to the
local fake (``fake_slack``).
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone
from slack_sdk.signature import SignatureVerifier

from agents.models import Run, RunStatus
from agents.tasks import execute_run
from integrations.slack.payloads import slack_event_envelope_check, slack_interaction_check
from agents.slack_replies import slack_post_ack
from integrations.tests.conftest import post_signed
from integrations.tests.test_slack_events import _queued_run, event_payload, events_of, runs_of
from revops.tests.fixtures.slack import SECRET_A
from tenants.context import tenant_context

DEEP = 100_000


def _deep_body() -> bytes:
    return b'{"type": "event_callback", "query": "x", "a": ' + b"[" * DEEP + b"]" * DEEP + b"}"


def _interact(client, payload: object, *, raw: str | None = None, slug: str = "acme-a"):
    body = urlencode({"payload": raw if raw is not None else json.dumps(payload)}).encode()
    ts = str(int(time.time()))
    return client.post(
        f"/slack/interactivity/{slug}",
        data=body,
        content_type="application/x-www-form-urlencoded",
        HTTP_X_SLACK_REQUEST_TIMESTAMP=ts,
        HTTP_X_SLACK_SIGNATURE=SignatureVerifier(SECRET_A).generate_signature(timestamp=ts, body=body),
    )


# --- finding 1: deep nesting ---------------------------------------------------------------------


def test_deeply_nested_event_body_is_a_400_not_a_500(client, slack_a, fake_slack):
    response = post_signed(client, "acme-a", _deep_body(), secret=SECRET_A)
    assert response.status_code == 400
    assert b"nested deeper than 64 levels" in response.content
    assert events_of(slack_a.tenant) == 0 and runs_of(slack_a.tenant) == [] and fake_slack.requests == []


def test_deeply_nested_interaction_payload_is_a_400_not_a_500(client, slack_a):
    levels = 40_000  # url-encoded brackets take 3 bytes: 240 KB, under MAX_REQUEST_BYTES
    response = _interact(client, None, raw="[" * levels + "]" * levels)
    assert response.status_code == 400
    assert b"nested deeper than 64 levels" in response.content


def test_nesting_within_the_limit_is_still_accepted(client, slack_a):
    payload = event_payload(event_id="EvNest")
    payload["deep"] = json.loads("[" * 60 + "]" * 60)  # 61 levels with the envelope: under 64
    assert post_signed(client, "acme-a", payload, secret=SECRET_A).status_code == 200
    assert events_of(slack_a.tenant) == 1


# --- finding 2: unexpected shapes, validly signed ------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"authorizations": 5},
        {"authorizations": [5]},
        {"authorizations": "x"},
        {"event": 5},
        {"event_id": ["Ev1"]},
        {"event_id": "Ev\x00bad"},
        {"team_id": {"id": "TA"}},
    ],
    ids=["authorizations-int", "authorizations-list-of-int", "authorizations-str", "event-int", "event-id-list", "event-id-nul", "team-dict"],
)
def test_event_of_unexpected_shape_is_acknowledged_and_ignored(client, slack_a, fake_slack, caplog, change):
    payload = {**event_payload(event_id="EvShape"), **change}
    response = post_signed(client, "acme-a", payload, secret=SECRET_A)
    assert response.status_code == 200  # so Slack stops retrying
    assert events_of(slack_a.tenant) == 0 and runs_of(slack_a.tenant) == [] and fake_slack.requests == []
    assert "ignored" in caplog.text


@pytest.mark.parametrize("field", ["text", "user", "channel", "ts", "type"])
def test_event_field_of_wrong_type_is_ignored(client, slack_a, field):
    payload = event_payload(event_id="EvType")
    payload["event"][field] = {"nested": ["x"]}
    assert post_signed(client, "acme-a", payload, secret=SECRET_A).status_code == 200
    assert events_of(slack_a.tenant) == 0 and runs_of(slack_a.tenant) == []


def test_nul_in_the_question_is_stripped_before_the_database(slack_a, fake_slack, deliver):
    text = "<@UBOTA1> what is the status of the\x00 Acme\x00 deal?"
    assert deliver(event_payload(event_id="EvNul", text=text)).status_code == 200
    [run] = runs_of(slack_a.tenant)
    assert "\x00" not in run.query
    assert run.query == "what is the status of the Acme deal?"


def test_question_of_only_nul_characters_is_ignored(client, slack_a):
    response = post_signed(client, "acme-a", event_payload(event_id="EvOnlyNul", text="<@UBOTA1> \x00\x00"), secret=SECRET_A)
    assert response.status_code == 200
    assert runs_of(slack_a.tenant) == [] and events_of(slack_a.tenant) == 0


@pytest.mark.parametrize(
    "change",
    [{"team": "TA"}, {"container": [1]}, {"user": "UHUMAN1"}, {"channel": 5}, {"actions": {"a": 1}}, {"actions": [3]}],
    ids=["team-str", "container-list", "user-str", "channel-int", "actions-dict", "actions-int"],
)
def test_interaction_of_unexpected_shape_is_acknowledged_and_ignored(client, slack_a, fake_slack, caplog, change):
    payload = {
        "type": "block_actions",
        "team": {"id": "TA"},
        "user": {"id": "UHUMAN1"},
        "container": {"type": "message", "channel_id": "C0CHAN", "message_ts": "1700000000.000001"},
        "channel": {"id": "C0CHAN"},
        "actions": [{"type": "button", "action_id": "revops_action_approve", "value": "1"}],
        **change,
    }
    response = _interact(client, payload)
    assert response.status_code == 200
    assert "unexpected payload shape" in caplog.text
    assert fake_slack.requests == []


def test_models_keep_unknown_fields_and_clean_text():
    checked = slack_event_envelope_check(
        {"type": "event_callback", "event_id": "Ev1", "event": {"type": "app_mention", "text": "a\x00b", "blocks": [1]}, "x": {"y": 1}}
    )
    assert checked == {"type": "event_callback", "event_id": "Ev1", "event": {"type": "app_mention", "text": "ab", "blocks": [1]}, "x": {"y": 1}}
    assert slack_interaction_check(["not", "an", "object"]) == "ignored: payload is not a JSON object"


# --- finding 6: one acknowledgement per run across attempts ---------------------------------------


def _acks(fake) -> list:
    return [r for r in fake.calls("chat.postMessage") if str(r.body.get("text", "")).startswith("Working on it")]


def test_retried_run_posts_one_acknowledgement(slack_a, fake_slack, settings):
    run = _queued_run(slack_a)
    with tenant_context(slack_a.tenant):
        assert slack_post_ack(run=run) is True  # attempt 1 acknowledged, then its worker died
    first_ts = Run.objects.unscoped().get(pk=run.pk).reply_to["slack"]["ack_ts"]
    stale = timezone.now() - timedelta(seconds=settings.WORKER_TIMEOUT_SECONDS + 120)
    Run.objects.unscoped().filter(pk=run.pk).update(status=RunStatus.RUNNING, started_at=stale, attempts=1)

    execute_run(run.pk)  # attempt 2, the way the reaper's resend reaches the worker

    final = Run.objects.unscoped().get(pk=run.pk)
    assert final.attempts == 2 and final.status in (RunStatus.SUCCEEDED, RunStatus.FAILED)
    assert len(_acks(fake_slack)) == 1
    assert final.reply_to["slack"]["ack_ts"] == first_ts
    assert "ack_claimed" not in final.reply_to["slack"]
    # The answer replaced the one acknowledgement in place.
    assert any(u.body.get("ts") == first_ts for u in fake_slack.calls("chat.update"))


def test_ack_from_a_stale_in_memory_copy_is_not_posted_twice(slack_a, fake_slack):
    run = _queued_run(slack_a)
    stale_copy = Run.objects.unscoped().get(pk=run.pk)  # loaded before the first attempt acknowledged
    with tenant_context(slack_a.tenant):
        assert slack_post_ack(run=run) is True
        assert slack_post_ack(run=stale_copy) is True  # the row says it was sent: reused
    assert len(_acks(fake_slack)) == 1
    assert stale_copy.reply_to["slack"]["ack_ts"] == run.reply_to["slack"]["ack_ts"]


def test_attempt_that_died_mid_ack_leaves_no_second_ack(slack_a, fake_slack):
    run = _queued_run(slack_a)
    # The previous attempt claimed the acknowledgement and died before Slack answered.
    reply_to = {**run.reply_to, "slack": {**run.reply_to["slack"], "ack_claimed": True}}
    Run.objects.unscoped().filter(pk=run.pk).update(reply_to=reply_to)
    with tenant_context(slack_a.tenant):
        assert slack_post_ack(run=run) is False
    assert _acks(fake_slack) == []


def test_refused_ack_can_be_tried_again(slack_a, fake_slack):
    fake_slack.errors["chat.postMessage"] = "channel_not_found"
    run = _queued_run(slack_a)
    with tenant_context(slack_a.tenant):
        assert slack_post_ack(run=run) is False
        assert "ack_claimed" not in Run.objects.unscoped().get(pk=run.pk).reply_to["slack"]
        del fake_slack.errors["chat.postMessage"]
        assert slack_post_ack(run=run) is True
    assert len(fake_slack.calls("chat.postMessage")) == 2
