"""Slack Events API: signature, tenant isolation, dedupe, filtering, and replies in the thread.

Requests are signed the way Slack signs them (``v0:<timestamp>:<body>``, HMAC-SHA256 with the
tenant's signing secret); replies go through the real ``slack_sdk`` client to a local fake
(``fake_slack``). django-q2 runs synchronously in tests, so executing the on-commit callbacks runs
the whole run, ack and answer included.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django_q.conf import Conf
from django_q.models import OrmQ
from django.utils import timezone
from slack_sdk.signature import SignatureVerifier

from agents.models import Run, RunStatus
from agents.services import run_create
from integrations.models import SlackEvent
from integrations.services import credential_set
from agents.slack_events import slack_event_handle, slack_question_process
from agents.slack_replies import slack_post_ack, slack_post_answer
from integrations.slack import tasks as legacy_slack_tasks
from integrations.tasks import slack_events_purge
from integrations.slack.verification import slack_endpoint_get
from integrations.tests.conftest import post_signed
from revops.tests.fixtures.slack import BOT_A, BOT_B, SECRET_A, SECRET_B, TOKEN_A, TOKEN_B
from tenants.context import tenant_context
from tenants.models import Membership, Tenant

# slack_a / slack_b (these secrets and bot ids) are shared fixtures: revops/tests/fixtures/slack.py.
HUMAN = "UHUMAN1"
ROOT_TS = "1700000001.000100"


def event_payload(
    *,
    event_id: str = "Ev0001",
    event_type: str = "app_mention",
    text: str = f"<@{BOT_A}> what is the status of the Acme deal?",
    user: str = HUMAN,
    channel: str = "C0CHAN",
    ts: str = ROOT_TS,
    thread_ts: str | None = None,
    team_id: str = "TA",
    bot_user: str = BOT_A,
    **extra,
) -> dict:
    event = {"type": event_type, "user": user, "text": text, "ts": ts, "channel": channel, "event_ts": ts, **extra}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return {
        "token": "legacy-verification-token",
        "team_id": team_id,
        "api_app_id": "A0APP",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1700000001,
        "event": event,
        "authorizations": [{"team_id": team_id, "user_id": bot_user, "is_bot": True}],
    }


def handle(world, payload: dict) -> str:
    """What the events endpoint does after verification, called directly (the worker runs inline in tests)."""
    endpoint = slack_endpoint_get(tenant_slug=world.tenant.slug)
    return slack_event_handle(tenant_id=endpoint.tenant_id, payload=payload, app=endpoint.app)


def runs_of(tenant: Tenant) -> list[Run]:
    return list(Run.objects.unscoped().filter(tenant=tenant).order_by("pk"))  # tests look across tenants


def events_of(tenant: Tenant) -> int:
    return SlackEvent.objects.unscoped().filter(tenant=tenant).count()  # tests look across tenants


# --- verification and routing -------------------------------------------------------------------


def test_url_verification_echoes_challenge(client, slack_a):
    payload = {"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"}
    response = post_signed(client, "acme-a", payload, secret=SECRET_A)
    assert response.status_code == 200
    assert response.json() == {"challenge": payload["challenge"]}


def test_url_verification_must_be_signed(client, slack_a):
    response = client.post(
        "/slack/events/acme-a", data={"type": "url_verification", "challenge": "c"}, content_type="application/json"
    )
    assert response.status_code == 401


def test_only_post_is_allowed(client, slack_a):
    assert client.get("/slack/events/acme-a").status_code == 405


def test_bad_signature_is_refused_and_nothing_is_stored(client, slack_a, fake_slack):
    response = post_signed(client, "acme-a", event_payload(), secret="not-the-signing-secret")
    assert response.status_code == 401
    assert runs_of(slack_a.tenant) == []
    assert events_of(slack_a.tenant) == 0
    assert fake_slack.requests == []


def test_missing_signature_headers_are_refused(client, slack_a):
    response = client.post("/slack/events/acme-a", data=event_payload(), content_type="application/json")
    assert response.status_code == 401
    assert runs_of(slack_a.tenant) == []


def test_tampered_body_is_refused(client, slack_a):
    body = json.dumps(event_payload()).encode()
    ts = str(int(time.time()))
    signature = SignatureVerifier(SECRET_A).generate_signature(timestamp=ts, body=body)
    response = client.post(
        "/slack/events/acme-a",
        data=body.replace(b"Acme", b"Evil"),
        content_type="application/json",
        HTTP_X_SLACK_REQUEST_TIMESTAMP=ts,
        HTTP_X_SLACK_SIGNATURE=signature,
    )
    assert response.status_code == 401


def test_stale_timestamp_is_refused(client, slack_a):
    response = post_signed(client, "acme-a", event_payload(), secret=SECRET_A, timestamp=int(time.time()) - 6 * 60)
    assert response.status_code == 401
    assert runs_of(slack_a.tenant) == []
    assert events_of(slack_a.tenant) == 0


def test_non_numeric_timestamp_is_refused(client, slack_a):
    body = json.dumps(event_payload()).encode()
    response = client.post(
        "/slack/events/acme-a",
        data=body,
        content_type="application/json",
        HTTP_X_SLACK_REQUEST_TIMESTAMP="yesterday",
        HTTP_X_SLACK_SIGNATURE=SignatureVerifier(SECRET_A).generate_signature(timestamp="yesterday", body=body),
    )
    assert response.status_code == 401


def test_malformed_json_is_a_400(client, slack_a):
    response = post_signed(client, "acme-a", b'{"type": "event_callback", ', secret=SECRET_A)
    assert response.status_code == 400
    response = post_signed(client, "acme-a", b"[1, 2]", secret=SECRET_A)
    assert response.status_code == 400


def test_oversized_body_is_a_413(client, slack_a, settings):
    body = b'{"pad": "' + b"x" * settings.MAX_REQUEST_BYTES + b'"}'
    response = post_signed(client, "acme-a", body, secret=SECRET_A)
    assert response.status_code == 413
    assert events_of(slack_a.tenant) == 0


def test_unknown_tenant_and_tenant_without_slack_are_the_same_404(client, slack_a, world_b):
    unknown = post_signed(client, "no-such-tenant", event_payload(), secret=SECRET_A)
    unconfigured = post_signed(client, world_b.tenant.slug, event_payload(), secret=SECRET_A)
    assert unknown.status_code == unconfigured.status_code == 404
    assert unknown.content == unconfigured.content
    assert runs_of(world_b.tenant) == []


def test_tenant_a_secret_on_tenant_b_url_is_refused(client, slack_a, slack_b, fake_slack):
    response = post_signed(client, slack_b.tenant.slug, event_payload(team_id="TB", bot_user=BOT_B), secret=SECRET_A)
    assert response.status_code == 401
    assert runs_of(slack_b.tenant) == []
    assert runs_of(slack_a.tenant) == []
    assert events_of(slack_b.tenant) == 0


# --- a question, answered in its thread --------------------------------------------------------


def test_app_mention_is_acked_and_answered_in_its_thread(slack_a, fake_slack, deliver):
    response = deliver(event_payload())
    assert response.status_code == 200

    [run] = runs_of(slack_a.tenant)
    assert run.query == "what is the status of the Acme deal?"
    assert run.channel == "slack"
    [ack] = fake_slack.calls("chat.postMessage")
    assert run.reply_to["slack"] == {
        "channel": "C0CHAN", "thread_ts": ROOT_TS, "event_id": "Ev0001", "user": HUMAN, "ack_ts": ack.answer["ts"],
    }
    assert run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED)
    assert events_of(slack_a.tenant) == 1

    assert ack.body["text"].startswith("Working on it")
    assert str(run.tracking_id) in ack.body["text"]
    assert (ack.body["channel"], ack.body["thread_ts"]) == ("C0CHAN", ROOT_TS)
    updates = fake_slack.calls("chat.update")
    assert updates and all(u.body["ts"] == ack.answer["ts"] and u.body["channel"] == "C0CHAN" for u in updates)
    assert all(r.authorization == f"Bearer {TOKEN_A}" for r in fake_slack.requests)
    [answer] = fake_slack.thread()  # the acknowledgement now reads as the answer
    assert answer["text"] and answer["blocks"][0]["type"] == "header"


def test_slack_retry_of_the_same_event_creates_no_second_run(slack_a, fake_slack, deliver):
    first = deliver(event_payload())
    retry = deliver(event_payload(), HTTP_X_SLACK_RETRY_NUM="1", HTTP_X_SLACK_RETRY_REASON="http_timeout")
    again = deliver(event_payload())  # the same event delivered twice without retry headers
    assert first.status_code == retry.status_code == again.status_code == 200
    assert len(runs_of(slack_a.tenant)) == 1
    assert events_of(slack_a.tenant) == 1
    texts = [m["text"] for m in fake_slack.messages()]
    assert len(texts) == 1 and texts[0].startswith("Working on it")
    assert len(fake_slack.thread()) == 1


def test_same_event_id_in_two_tenants_is_handled_by_each(slack_a, slack_b, fake_slack, deliver):
    deliver(event_payload())
    deliver(
        event_payload(team_id="TB", bot_user=BOT_B, text=f"<@{BOT_B}> how is pipeline?"),
        slug=slack_b.tenant.slug,
        secret=SECRET_B,
    )
    assert len(runs_of(slack_a.tenant)) == len(runs_of(slack_b.tenant)) == 1
    tokens = {p.authorization for p in fake_slack.calls("chat.postMessage")}
    assert tokens == {f"Bearer {TOKEN_A}", f"Bearer {TOKEN_B}"}


def test_direct_message_is_queued_and_answered_in_its_thread(slack_a, fake_slack, deliver):
    payload = event_payload(event_type="message", channel="D0DM", channel_type="im", text="how is the Q3 pipeline?")
    assert deliver(payload).status_code == 200
    [run] = runs_of(slack_a.tenant)
    assert run.query == "how is the Q3 pipeline?"
    posts = fake_slack.thread()
    assert len(posts) == 1
    assert {(p["channel"], p["thread_ts"]) for p in posts} == {("D0DM", ROOT_TS)}
    assert not posts[0]["text"].startswith("Working on it")


def test_follow_up_in_the_same_thread_joins_the_conversation(slack_a, fake_slack, deliver):
    deliver(event_payload(event_id="Ev1"))
    deliver(event_payload(event_id="Ev2", text=f"<@{BOT_A}> and who owns it?", ts="1700000050.000200", thread_ts=ROOT_TS))
    first, follow_up = runs_of(slack_a.tenant)
    assert first.conversation_id is not None
    assert follow_up.conversation_id == first.conversation_id
    assert follow_up.reply_to["slack"]["thread_ts"] == ROOT_TS
    assert {p["thread_ts"] for p in fake_slack.messages()} == {ROOT_TS}
    assert len(fake_slack.thread()) == 2


def test_a_new_thread_is_a_new_conversation(slack_a, fake_slack, deliver):
    deliver(event_payload(event_id="Ev1"))
    deliver(event_payload(event_id="Ev2", ts="1700000099.000300"))
    first, second = runs_of(slack_a.tenant)
    assert first.conversation_id != second.conversation_id


def test_asker_with_a_membership_is_recorded_as_creator(slack_a, fake_slack, deliver):
    Membership.objects.filter(user=slack_a.viewer, tenant=slack_a.tenant).update(slack_user_id=HUMAN)
    deliver(event_payload())
    [run] = runs_of(slack_a.tenant)
    assert run.created_by == slack_a.viewer


def test_asker_without_membership_leaves_creator_empty(slack_a, fake_slack, deliver):
    deliver(event_payload(user="USTRANGER"))
    [run] = runs_of(slack_a.tenant)
    assert run.created_by is None


# --- ignored events -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(event_payload(user=BOT_A, text="Working on it…"), id="own-bot-user"),
        pytest.param(event_payload(bot_id="B0OTHER"), id="bot-id"),
        pytest.param(
            event_payload(event_type="message", channel_type="im", subtype="bot_message", text="beep"), id="bot-subtype"
        ),
        pytest.param(
            event_payload(event_type="message", channel_type="im", user=BOT_A, text="answer"), id="own-dm-reply"
        ),
    ],
)
def test_bot_messages_are_ignored(slack_a, fake_slack, deliver, payload):
    assert deliver(payload).status_code == 200
    assert runs_of(slack_a.tenant) == []
    assert fake_slack.requests == []


def test_channel_message_duplicate_of_a_mention_is_ignored(slack_a, fake_slack, deliver):
    mention = event_payload(event_id="EvMention")
    duplicate = event_payload(event_id="EvMessage", event_type="message", channel_type="channel")
    deliver(mention)
    deliver(duplicate)
    assert len(runs_of(slack_a.tenant)) == 1
    assert len(fake_slack.thread()) == 1


def test_edited_direct_message_is_ignored(slack_a, fake_slack, deliver):
    payload = event_payload(event_type="message", channel_type="im", subtype="message_changed", text="edited")
    deliver(payload)
    assert runs_of(slack_a.tenant) == []


def test_mention_without_a_question_is_ignored(slack_a, fake_slack):
    outcome = handle(slack_a, event_payload(text=f"  <@{BOT_A}>  "))
    assert outcome == "ignored: empty"
    assert runs_of(slack_a.tenant) == []
    assert events_of(slack_a.tenant) == 0


def test_event_from_another_workspace_is_ignored(slack_a, fake_slack):
    outcome = handle(slack_a, event_payload(team_id="TOTHER"))
    assert outcome == "ignored: other team"
    assert events_of(slack_a.tenant) == 0


def test_handle_reports_what_happened(slack_a, fake_slack):
    assert handle(slack_a, event_payload()) == "queued"
    assert handle(slack_a, event_payload()) == "duplicate"
    assert handle(slack_a, event_payload(event_id="EvX", event_type="reaction_added")).startswith("ignored: event type")
    [run] = runs_of(slack_a.tenant)
    assert run.query == "what is the status of the Acme deal?"


def test_oversized_question_is_ignored_without_a_dedupe_row(slack_a, fake_slack):
    outcome = handle(slack_a, event_payload(text="why " * 2000))
    assert outcome.startswith("ignored: query is longer")
    assert events_of(slack_a.tenant) == 0


def test_dedupe_row_is_unique_per_tenant(slack_a, slack_b):
    SlackEvent.objects.unscoped().create(tenant=slack_a.tenant, event_id="EvSame", event_type="app_mention")
    SlackEvent.objects.unscoped().create(tenant=slack_b.tenant, event_id="EvSame", event_type="app_mention")
    with pytest.raises(IntegrityError), transaction.atomic():
        SlackEvent.objects.unscoped().create(tenant=slack_a.tenant, event_id="EvSame", event_type="message")


def test_purge_deletes_only_old_dedupe_rows(slack_a, slack_b):
    old = SlackEvent.objects.unscoped().create(tenant=slack_a.tenant, event_id="EvOld")
    SlackEvent.objects.unscoped().filter(pk=old.pk).update(received_at=timezone.now() - timedelta(days=3))
    SlackEvent.objects.unscoped().create(tenant=slack_b.tenant, event_id="EvNew")
    assert slack_events_purge(older_than=timedelta(days=2)) == 1
    assert list(SlackEvent.objects.unscoped().values_list("event_id", flat=True)) == ["EvNew"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_event_make_one_run(transactional_db, slack_a, fake_slack):
    """Two workers handle the same event at once: the unique constraint lets exactly one queue it."""
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def deliver_once() -> None:
        try:
            barrier.wait(timeout=10)
            outcomes.append(handle(slack_a, event_payload(event_id="EvRace")))
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver_once) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["duplicate", "queued"]
    assert len(runs_of(slack_a.tenant)) == 1
    assert events_of(slack_a.tenant) == 1


# --- replies ------------------------------------------------------------------------------------


def _queued_run(world, **fields) -> Run:
    """A run recorded the way the Slack route records it (its on-commit enqueue never fires here)."""
    run = run_create(
        tenant=world.tenant,
        channel="slack",
        query="question",
        thread_key=f"C0CHAN:{ROOT_TS}",
        reply_to={"slack": {"channel": "C0CHAN", "thread_ts": ROOT_TS, "event_id": "Ev9", "user": HUMAN}},
    )
    for name, value in fields.items():
        setattr(run, name, value)
    run.save()
    return run


def test_failed_run_posts_the_failure_message_and_run_id_not_the_error(slack_a, fake_slack):
    run = _queued_run(
        slack_a,
        status=RunStatus.FAILED,
        answer_markdown="Sorry, this question could not be answered: an internal error occurred.",
        error="OperationalError: connection to 10.0.0.5 refused",
    )
    with tenant_context(slack_a.tenant):
        assert slack_post_answer(run=run) == 1
    [message] = fake_slack.messages()
    assert "could not be answered" in message["text"]
    shown = json.dumps(message["blocks"], ensure_ascii=False)
    assert f"Run `{run.tracking_id}` · failed" in shown
    assert "10.0.0.5" not in shown and "10.0.0.5" not in message["text"]


def test_slack_api_error_is_logged_without_the_token_and_not_raised(slack_a, fake_slack, caplog):
    fake_slack.errors["chat.postMessage"] = "channel_not_found"
    run = _queued_run(slack_a, status=RunStatus.SUCCEEDED, answer_markdown="one\n\ntwo")
    with caplog.at_level(logging.DEBUG), tenant_context(slack_a.tenant):
        assert slack_post_ack(run=run) is False
        assert slack_post_answer(run=run) == 0
    assert "channel_not_found" in caplog.text
    assert TOKEN_A not in caplog.text
    assert len(fake_slack.messages()) == 2  # one ack attempt, then the answer stops at its first refusal


def test_unreachable_slack_is_logged_and_not_raised(slack_a, settings, caplog):
    settings.SLACK_API_URL = "http://127.0.0.1:9/api/"  # nothing listens there
    run = _queued_run(slack_a, status=RunStatus.SUCCEEDED, answer_markdown="answer")
    with caplog.at_level(logging.DEBUG), tenant_context(slack_a.tenant):
        assert slack_post_ack(run=run) is False
    assert "Slack unreachable" in caplog.text
    assert TOKEN_A not in caplog.text


def test_no_bot_token_posts_nothing(world_a, fake_slack):
    credential_set(tenant=world_a.tenant, kind="slack", config={}, secrets={"signing_secret": SECRET_A})
    run = _queued_run(world_a, status=RunStatus.SUCCEEDED, answer_markdown="answer")
    with tenant_context(world_a.tenant):
        assert slack_post_answer(run=run) == 0
    assert fake_slack.requests == []


def test_slack_connect_user_from_another_workspace_is_ignored(slack_a, fake_slack, deliver):
    assert deliver(event_payload(event_id="EvExt", user_team="TEXTERNAL")).status_code == 200
    assert runs_of(slack_a.tenant) == [] and fake_slack.requests == []
    deliver(event_payload(event_id="EvOwn", user_team="TA"))
    assert len(runs_of(slack_a.tenant)) == 1


def test_members_only_tenant_ignores_non_members(slack_a, fake_slack, deliver):
    slack_a.tenant.settings = {**slack_a.tenant.settings, "slack": {"members_only": True}}
    slack_a.tenant.save()
    deliver(event_payload(event_id="EvStranger"))
    assert runs_of(slack_a.tenant) == [] and fake_slack.requests == []
    assert events_of(slack_a.tenant) == 1  # accepted (200) before the worker looked at membership
    deliver(event_payload(event_id="EvStranger"), HTTP_X_SLACK_RETRY_NUM="1")  # a retry is not looked at again
    assert runs_of(slack_a.tenant) == [] and events_of(slack_a.tenant) == 1
    Membership.objects.filter(user=slack_a.viewer, tenant=slack_a.tenant).update(slack_user_id=HUMAN)
    deliver(event_payload(event_id="EvMember"))
    assert len(runs_of(slack_a.tenant)) == 1


# --- the ack path: only what must happen before the 200 -----------------------------------------


def _statements(captured: CaptureQueriesContext) -> list[str]:
    """The SQL the request ran, without the test transaction's savepoints."""
    return [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]


def test_ack_inserts_the_event_and_enqueues_and_the_worker_does_the_rest(client, slack_a, fake_slack, monkeypatch):
    """With a real (non-inline) broker the request writes the dedupe row and the queue row only:
    no membership read, no run, no Slack call. Running the queued task then answers in the thread."""
    Membership.objects.filter(user=slack_a.viewer, tenant=slack_a.tenant).update(slack_user_id=HUMAN)
    post_signed(client, "acme-a", event_payload(event_id="EvWarm", user=BOT_A), secret=SECRET_A)  # caches the secret
    monkeypatch.setattr(Conf, "SYNC", False)  # django-q2's own switch: enqueue on the ORM broker, as in production
    with CaptureQueriesContext(connection) as captured:
        response = post_signed(client, "acme-a", event_payload(), secret=SECRET_A)
    assert response.status_code == 200
    sql = _statements(captured)
    assert len(sql) == 3, sql
    assert sql[0].startswith("SELECT") and "integrations_connectorcredential" in sql[0]
    assert sql[1].startswith('INSERT INTO "integrations_slackevent"')  # one ORM INSERT (no hand-written ON CONFLICT)
    assert sql[2].startswith('INSERT INTO "django_q_ormq"')
    assert runs_of(slack_a.tenant) == [] and fake_slack.requests == [] and events_of(slack_a.tenant) == 1

    [queued] = OrmQ.objects.all()
    task = queued.task  # the unsigned package
    assert task["func"] == "agents.slack_events.slack_question_process"
    # tasks queued before the move under the old dotted path still run the same function
    assert legacy_slack_tasks.slack_question_process is slack_question_process
    assert slack_question_process(*task["args"]) in (RunStatus.SUCCEEDED, RunStatus.FAILED)
    [run] = runs_of(slack_a.tenant)
    assert run.created_by == slack_a.viewer  # membership resolved on the worker
    assert fake_slack.calls("chat.postMessage")[0].body["text"].startswith("Working on it")
    assert len(fake_slack.thread()) == 1


def test_retry_and_bot_message_cost_one_select_with_the_secret_cached(client, slack_a, fake_slack, deliver):
    deliver(event_payload())
    with CaptureQueriesContext(connection) as captured:
        assert post_signed(client, "acme-a", event_payload(), secret=SECRET_A, HTTP_X_SLACK_RETRY_NUM="1").status_code == 200
    sql = _statements(captured)
    # the credential row; the insert the unique constraint turns into nothing (ON CONFLICT DO NOTHING)
    assert [q.split()[0] for q in sql] == ["SELECT", "INSERT"] and "ON CONFLICT" in sql[1]
    with CaptureQueriesContext(connection) as captured:
        assert post_signed(client, "acme-a", event_payload(event_id="EvBot", bot_id="B0X"), secret=SECRET_A).status_code == 200
    assert [q.split()[0] for q in _statements(captured)] == ["SELECT"]
    assert len(runs_of(slack_a.tenant)) == 1


def test_a_changed_signing_secret_is_used_from_the_next_request(client, slack_a, fake_slack):
    """The per-process cache is keyed by the credential's updated_at: an admin change is seen at once."""
    from integrations.services import credential_save

    ok = event_payload(event_id="EvWarm", user=BOT_A)  # ignored after verification: nothing queued
    assert post_signed(client, "acme-a", ok, secret=SECRET_A).status_code == 200
    credential_save(
        tenant=slack_a.tenant, kind="slack", name="default", config={"team_id": "TA", "bot_user_id": BOT_A},
        secret_updates={"signing_secret": "a-brand-new-signing-secret-000"},
    )
    assert post_signed(client, "acme-a", ok, secret=SECRET_A).status_code == 401
    assert post_signed(client, "acme-a", ok, secret="a-brand-new-signing-secret-000").status_code == 200
    from integrations.models import ConnectorCredential

    ConnectorCredential.objects.unscoped().filter(tenant=slack_a.tenant).delete()
    assert post_signed(client, "acme-a", ok, secret="a-brand-new-signing-secret-000").status_code == 404


def test_cached_secret_of_tenant_a_never_verifies_tenant_b(client, slack_a, slack_b, fake_slack):
    ok_a = event_payload(event_id="EvWarm", user=BOT_A)
    assert post_signed(client, "acme-a", ok_a, secret=SECRET_A).status_code == 200
    assert post_signed(client, slack_b.tenant.slug, ok_a, secret=SECRET_A).status_code == 401
    assert post_signed(client, "acme-a", ok_a, secret=SECRET_B).status_code == 401
