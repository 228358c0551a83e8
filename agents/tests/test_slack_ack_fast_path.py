"""The Slack events ack does only what must happen before the 200 (issue 10, "Fast paths"): with
the signing secret cached in the process, one SELECT of the tenant's credential row, one INSERT of
the event row (its unique event_id is the dedupe) and the queue row, in one transaction."""

from __future__ import annotations

import json
import time

import pytest
from django_q.conf import Conf
from django_q.models import OrmQ
from slack_sdk.signature import SignatureVerifier

from integrations.models import SlackEvent
from revops.tests.fixtures.slack import BOT_A, SECRET_A


def _post(client, payload: dict):
    body = json.dumps(payload).encode()
    ts = str(int(time.time()))
    return client.post(
        "/slack/events/acme-a", data=body, content_type="application/json",
        HTTP_X_SLACK_REQUEST_TIMESTAMP=ts, HTTP_X_SLACK_SIGNATURE=SignatureVerifier(SECRET_A).generate_signature(timestamp=ts, body=body),
    )


def _mention(event_id: str) -> dict:
    event = {"type": "app_mention", "user": "UHUMAN1", "text": f"<@{BOT_A}> win rate by sector?", "ts": "1.000100", "channel": "C0CHAN"}
    return {"type": "event_callback", "team_id": "TA", "event_id": event_id, "event_time": 1, "event": event,
            "authorizations": [{"team_id": "TA", "user_id": BOT_A, "is_bot": True}]}


@pytest.fixture
def orm_broker(monkeypatch):
    """django-q2's own switch off: the ORM broker enqueues as in production (tests run tasks inline)."""
    monkeypatch.setattr(Conf, "SYNC", False)


def test_the_ack_is_one_select_one_event_insert_and_the_queue_row(client, slack_a, orm_broker, django_assert_max_num_queries):
    assert _post(client, _mention("EvWarm")).status_code == 200  # caches the decrypted signing secret
    # SELECT credential, SAVEPOINT + INSERT event + RELEASE (the dedupe), INSERT queue row; the view's
    # transaction is itself a savepoint (+2) inside the test's transaction.
    with django_assert_max_num_queries(7):
        assert _post(client, _mention("EvFast")).status_code == 200
    assert SlackEvent.objects.unscoped().filter(tenant=slack_a.tenant, event_id="EvFast").count() == 1
    assert [q.task["func"] for q in OrmQ.objects.all()] == ["agents.slack_events.slack_question_process"] * 2


def test_a_retried_event_is_acked_with_no_second_queue_row(client, slack_a, orm_broker, django_assert_max_num_queries):
    assert _post(client, _mention("EvOnce")).status_code == 200
    # SELECT credential, the refused INSERT in its savepoint (rolled back to it), no queue row
    with django_assert_max_num_queries(7):
        assert _post(client, _mention("EvOnce")).status_code == 200  # Slack's retry: the unique row refuses it
    assert OrmQ.objects.count() == 1


def test_another_tenants_url_refuses_the_signature(client, slack_a, slack_b, orm_broker):
    body = json.dumps(_mention("EvCross")).encode()
    ts = str(int(time.time()))
    response = client.post(
        "/slack/events/globex-b", data=body, content_type="application/json",
        HTTP_X_SLACK_REQUEST_TIMESTAMP=ts, HTTP_X_SLACK_SIGNATURE=SignatureVerifier(SECRET_A).generate_signature(timestamp=ts, body=body),
    )
    assert response.status_code == 401 and OrmQ.objects.count() == 0
