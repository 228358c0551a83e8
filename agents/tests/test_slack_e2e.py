"""The main job through Slack: a signed app_mention reaches the worker (sync django-q2), the answer
is posted in the thread of a local fake Slack Web API, with figures computed from the CSV files."""

from __future__ import annotations

import datetime as dt
import json
import time

from slack_sdk.signature import SignatureVerifier

from agents.models import Run
from agents.tests.conftest import read_csv
from integrations.services import credential_set

SECRET = "demo-signing-secret-0123456789abcdef"
TOKEN = "xoxb-demo-bot-token-0000000000"


def _signed_post(client, body: bytes, secret: str = SECRET):
    ts = str(int(time.time()))
    return client.post(
        "/slack/events/demo",
        data=body,
        content_type="application/json",
        HTTP_X_SLACK_REQUEST_TIMESTAMP=ts,
        HTTP_X_SLACK_SIGNATURE=SignatureVerifier(secret).generate_signature(timestamp=ts, body=body),
    )


def _mention(text: str, event_id: str = "Ev001", ts: str = "1751300000.000100") -> bytes:
    return json.dumps(
        {
            "type": "event_callback",
            "team_id": "T0DEMO",
            "event_id": event_id,
            "event": {"type": "app_mention", "user": "U0HUMAN", "text": f"<@U0BOT> {text}", "channel": "C0DEALS", "ts": ts},
        }
    ).encode()


def test_slack_mention_answered_in_thread_with_csv_figures(client, demo, fake_slack, django_capture_on_commit_callbacks):  # noqa: F811
    credential_set(tenant=demo.tenant, kind="slack", config={"team_id": "T0DEMO", "bot_user_id": "U0BOT"}, secrets={"signing_secret": SECRET, "bot_token": TOKEN})
    rows = [r for r in read_csv("sales_pipeline") if r["deal_stage"] == "Won"]
    q1 = []
    for r in rows:
        m, d, y = (int(x) for x in r["close_date"].split("/"))
        if dt.date(2025, 1, 1) <= dt.date(y, m, d) <= dt.date(2025, 3, 31):
            q1.append(r)
    total = sum(int(r["close_value"]) for r in q1)

    with django_capture_on_commit_callbacks(execute=True):
        response = _signed_post(client, _mention("How much closed-won revenue did we book last quarter?"))
        # Slack retries the same event when it thinks we were slow: one answer only.
        retry = _signed_post(client, _mention("How much closed-won revenue did we book last quarter?"))
    assert response.status_code == 200 and retry.status_code == 200

    messages = fake_slack.messages()
    assert all(m["channel"] == "C0DEALS" and m["thread_ts"] == "1751300000.000100" for m in messages)
    assert "Working on it" in messages[0]["text"]
    answer = "\n".join(m["text"] for m in fake_slack.thread())  # the acknowledgement is updated in place into the answer
    assert f"${total:,}" in answer and f"{len(q1):,} won opportunities" in answer
    assert all(r.authorization == f"Bearer {TOKEN}" for r in fake_slack.calls("chat.postMessage"))
    assert Run.objects.unscoped().filter(tenant=demo.tenant, channel="slack").count() == 1


def test_bad_signature_queues_nothing_and_posts_nothing(client, demo, fake_slack):  # noqa: F811
    credential_set(tenant=demo.tenant, kind="slack", config={"team_id": "T0DEMO", "bot_user_id": "U0BOT"}, secrets={"signing_secret": SECRET, "bot_token": TOKEN})
    response = _signed_post(client, _mention("What is the win rate?"), secret="not-the-secret")
    assert response.status_code == 401
    assert Run.objects.unscoped().count() == 0
    assert fake_slack.messages() == []
