"""slack_question_accept writes its dedupe row in one INSERT ... ON CONFLICT DO NOTHING (no
savepoint, one round trip: the Slack ack's hot path), the unique (tenant, event_id) constraint
answering "duplicate", the caller's transaction still usable; an interaction reads the Slack
credential once."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from integrations.models import SlackEvent
from integrations.slack.blocks import FEEDBACK_UP_ACTION_ID
from agents.slack_events import SlackQuestion, slack_question_accept
from revops.tests.fixtures.slack import SECRET_A


def _question(event_id: str) -> SlackQuestion:
    return SlackQuestion(
        event_id=event_id, event_type="app_mention", team_id="T0FAKE", channel="C1", user="U1", ts="1.0", thread_ts="1.0", text="hi"
    )


@pytest.mark.django_db
def test_duplicate_event_is_one_conflict_free_insert_and_keeps_the_transaction_usable(world_a):
    SlackEvent.objects.unscoped().create(tenant=world_a.tenant, event_id="EvDup", event_type="app_mention")
    with transaction.atomic():
        with CaptureQueriesContext(connection) as queries:
            assert slack_question_accept(tenant_id=world_a.tenant.pk, question=_question("EvDup")) == "duplicate"
        inserts = [q["sql"] for q in queries if q["sql"].startswith("INSERT") and SlackEvent._meta.db_table in q["sql"]]
        assert len(inserts) == 1 and "ON CONFLICT" in inserts[0], inserts
        assert not any(q["sql"].startswith("ROLLBACK") for q in queries)  # a conflict aborts nothing
        assert not any("django_q_ormq" in q["sql"] for q in queries)  # a duplicate is not enqueued again
        # The outer transaction was not aborted by the ignored INSERT.
        assert SlackEvent.objects.unscoped().filter(tenant=world_a.tenant, event_id="EvDup").count() == 1



@pytest.mark.django_db
def test_new_event_is_claimed_and_enqueued_in_two_statements(world_a, monkeypatch):
    from django_q.conf import Conf
    from django_q.models import OrmQ

    monkeypatch.setattr(Conf, "SYNC", False)  # the test settings run tasks inline; here they must queue

    with CaptureQueriesContext(connection) as queries:
        assert slack_question_accept(tenant_id=world_a.tenant.pk, question=_question("EvNew")) == "queued"
    writes = [q["sql"].split("(")[0].strip() for q in queries if q["sql"].startswith("INSERT")]
    assert writes == [f'INSERT INTO "{SlackEvent._meta.db_table}"', 'INSERT INTO "django_q_ormq"'], writes
    assert SlackEvent.objects.unscoped().filter(tenant=world_a.tenant, event_id="EvNew", event_type="app_mention").count() == 1
    assert OrmQ.objects.count() == 1
    assert slack_question_accept(tenant_id=world_a.tenant.pk, question=_question("EvNew")) == "duplicate"
    assert OrmQ.objects.count() == 1


def test_an_interaction_reads_the_slack_credential_once(client, slack_a):  # noqa: F811
    """The app that verified the signature is the one the handler checks the team against: the
    credential is read (and decrypted) once per interaction, not loaded again."""
    import json
    import time
    from urllib.parse import urlencode

    from slack_sdk.signature import SignatureVerifier

    payload = {
        "type": "block_actions",
        "team": {"id": "TOTHER"},  # another workspace: ignored, which needs the app's team id
        "user": {"id": "UHUMAN1"},
        "container": {"type": "message", "channel_id": "C0CHAN", "message_ts": "1.1"},
        "actions": [{"type": "button", "action_id": FEEDBACK_UP_ACTION_ID, "value": "not-a-run", "action_ts": "1.1"}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()

    def click():
        ts = str(int(time.time()))
        return client.post(
            "/slack/interactivity/acme-a", data=body, content_type="application/x-www-form-urlencoded",
            HTTP_X_SLACK_REQUEST_TIMESTAMP=ts, HTTP_X_SLACK_SIGNATURE=SignatureVerifier(SECRET_A).generate_signature(timestamp=ts, body=body),
        )

    assert click().status_code == 200  # warms the verified-secret cache
    with CaptureQueriesContext(connection) as queries:
        assert click().status_code == 200
    reads = [q["sql"] for q in queries if "integrations_connectorcredential" in q["sql"]]
    assert len(reads) == 1, reads  # the verification's lookup; no second load of the app
