"""Answers delivered in Slack: the acknowledgement updated in place, Block Kit answers, 👍/👎 feedback.

Everything goes through the real ``slack_sdk`` client to the local fake Slack (which refuses
invalid blocks and updates of messages it never issued) and, for clicks, through the signed
interactivity endpoint. django-q2 runs synchronously in tests.
"""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import SignatureVerifier

from agents.models import Run, RunStatus
from integrations.slack.blocks import FEEDBACK_DOWN_ACTION_ID, FEEDBACK_UP_ACTION_ID
from agents.slack_replies import slack_post_ack, slack_post_answer
from integrations.tests.test_slack_events import ROOT_TS, _queued_run, event_payload
from revops.tests.fixtures.slack import BOT_A, SECRET_A, SECRET_B
from tenants.context import tenant_context
from tenants.models import Membership


def _reload(run: Run) -> Run:
    return Run.objects.unscoped().get(pk=run.pk)  # tests look across tenants


def _progress_updates(fake) -> list[dict]:
    return [u.body for u in fake.calls("chat.update") if u.body["text"].startswith("Working on it")]


# --- in-place progress and the answer -----------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "planned"),
    [("what is the status of the Acme deal?", ["deal_analysis"]), ("Notify the owner of the Acme deal", ["deal_analysis", "execution"])],
    ids=["one-specialist", "two-specialists"],
)
def test_acknowledgement_is_updated_as_specialists_finish_then_replaced_by_the_answer(slack_a, fake_slack, deliver, question, planned):
    deliver(event_payload(text=f"<@{BOT_A}> {question}"))
    run = Run.objects.unscoped().get(tenant=slack_a.tenant)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.route == planned

    [ack] = fake_slack.calls("chat.postMessage")[:1]
    assert ack.body["text"] == f"Working on it… (run {run.tracking_id})"
    updates = fake_slack.calls("chat.update")
    assert all((u.body["channel"], u.body["ts"]) == ("C0CHAN", ack.answer["ts"]) and u.answer["ok"] for u in updates)
    # The plan, then one update per finished specialist, then the answer.
    progress = _progress_updates(fake_slack)
    assert [p["text"].split(": ", 1)[1] for p in progress] == [
        f"{n} of {len(planned)} specialist{'s' if len(planned) > 1 else ''} finished" for n in range(len(planned) + 1)
    ]
    assert len(updates) == len(progress) + 1
    final = updates[-1].body
    assert not final["text"].startswith("Working on it")
    blocks = final["blocks"] if isinstance(final["blocks"], list) else json.loads(final["blocks"])
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": question, "emoji": True}}
    assert blocks[-1]["type"] == "actions" and blocks[-2]["type"] == "context"
    assert str(run.tracking_id) in json.dumps(blocks[-2])
    # The thread reads as one message: the answer, where the acknowledgement was.
    answer_messages = [m for m in fake_slack.thread() if m["ts"] == ack.answer["ts"]]
    assert len(answer_messages) == 1 and answer_messages[0]["thread_ts"] == ROOT_TS
    if len(planned) > 1:
        assert "✅ Deal analysis · ⏳ Execution" in json.dumps(progress[1]["blocks"], ensure_ascii=False)


def test_run_link_uses_the_public_admin_origin(slack_a, fake_slack, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://revops.example.com"]
    run = _queued_run(slack_a, status=RunStatus.SUCCEEDED, answer_markdown="Forty-two.")
    with tenant_context(slack_a.tenant):
        assert slack_post_answer(run=run) == 1
    [message] = fake_slack.messages()
    assert f"<https://revops.example.com/admin/agents/run/{run.pk}/change/|Run {run.tracking_id}>" in json.dumps(message["blocks"])


def test_too_long_answer_follows_the_acknowledgement_in_ordered_valid_messages(slack_a, fake_slack):
    paragraphs = [f"### Account {i}\n\nParagraph {i} " + "with words that go on " * 60 + f"END{i}." for i in range(40)]
    run = _queued_run(slack_a, status=RunStatus.SUCCEEDED, answer_markdown="\n\n".join(paragraphs))
    with tenant_context(slack_a.tenant):
        assert slack_post_ack(run=run)
        posted = slack_post_answer(run=run)
    assert posted > 1
    ack, *answer = fake_slack.calls("chat.postMessage")
    assert len(answer) == posted and all(p.answer["ok"] for p in answer)  # the fake accepted every block
    [update] = fake_slack.calls("chat.update")
    assert update.body["ts"] == ack.answer["ts"]
    assert update.body["text"] == f"Done: the answer follows in {posted} messages (run {run.tracking_id})."
    assert {(p.body["channel"], p.body["thread_ts"]) for p in answer} == {("C0CHAN", ROOT_TS)}
    texts = "\n".join(json.dumps(p.body["blocks"]) for p in answer)
    assert [texts.index(f"END{i}.") for i in range(40)] == sorted(texts.index(f"END{i}.") for i in range(40))


def test_answer_is_posted_anew_when_the_acknowledgement_cannot_be_updated(slack_a, fake_slack):
    run = _queued_run(slack_a, status=RunStatus.SUCCEEDED, answer_markdown="Forty-two.")
    fake_slack.errors["chat.update"] = "cant_update_message"
    with tenant_context(slack_a.tenant):
        assert slack_post_ack(run=run)
        assert slack_post_answer(run=run) == 1
    ack, answer = fake_slack.messages()
    assert ack["text"].startswith("Working on it") and "Forty-two." in answer["text"]


def test_answer_without_acknowledgement_is_posted(slack_a, fake_slack):
    run = _queued_run(slack_a, status=RunStatus.SUCCEEDED, answer_markdown="Forty-two.")
    with tenant_context(slack_a.tenant):
        assert slack_post_answer(run=run) == 1
    assert fake_slack.calls("chat.update") == []
    assert "Forty-two." in fake_slack.messages()[0]["text"]


# --- feedback buttons ------------------------------------------------------------------------------


def _click(client, slug: str, *, secret: str, run_ref: str, user: str = "UHUMAN1", up: bool = True, team: str = "TA"):
    payload = {
        "type": "block_actions",
        "team": {"id": team},
        "user": {"id": user},
        "container": {"type": "message", "channel_id": "C0CHAN", "message_ts": "1700000000.000001", "thread_ts": ROOT_TS},
        "channel": {"id": "C0CHAN"},
        "actions": [
            {
                "type": "button",
                "action_id": FEEDBACK_UP_ACTION_ID if up else FEEDBACK_DOWN_ACTION_ID,
                "block_id": "revops_feedback",
                "value": run_ref,
                "action_ts": str(time.time()),
            }
        ],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    ts = str(int(time.time()))
    return client.post(
        f"/slack/interactivity/{slug}",
        data=body,
        content_type="application/x-www-form-urlencoded",
        HTTP_X_SLACK_REQUEST_TIMESTAMP=ts,
        HTTP_X_SLACK_SIGNATURE=SignatureVerifier(secret).generate_signature(timestamp=ts, body=body),
    )


def test_feedback_click_is_stored_on_the_run_once_per_person(client, slack_a):
    run = _queued_run(slack_a, status=RunStatus.SUCCEEDED, answer_markdown="Forty-two.")
    assert _click(client, "acme-a", secret=SECRET_A, run_ref=str(run.tracking_id)).status_code == 200
    first = _reload(run).feedback
    assert list(first) == ["slack:UHUMAN1"]
    assert first["slack:UHUMAN1"]["value"] == "up" and first["slack:UHUMAN1"]["via"] == "slack"
    assert first["slack:UHUMAN1"]["at"].endswith("+00:00")

    # The same click again (Slack retries, double clicks) changes nothing.
    assert _click(client, "acme-a", secret=SECRET_A, run_ref=str(run.tracking_id)).status_code == 200
    assert _reload(run).feedback == first

    # A change of mind replaces the vote; another person adds theirs.
    _click(client, "acme-a", secret=SECRET_A, run_ref=str(run.tracking_id), up=False)
    _click(client, "acme-a", secret=SECRET_A, run_ref=str(run.tracking_id), user="UOTHER2")
    feedback = _reload(run).feedback
    assert {k: v["value"] for k, v in feedback.items()} == {"slack:UHUMAN1": "down", "slack:UOTHER2": "up"}


def test_feedback_for_another_tenants_run_is_ignored(client, slack_a, slack_b):
    run_a = _queued_run(slack_a, status=RunStatus.SUCCEEDED, answer_markdown="Forty-two.")
    # Tenant B's own signed request naming tenant A's run: answered 200 (Slack needs it), nothing stored.
    assert _click(client, slack_b.tenant.slug, secret=SECRET_B, run_ref=str(run_a.tracking_id), team="TB").status_code == 200
    assert _reload(run_a).feedback == {}
    # Tenant A's payload sent to tenant B's URL is not even verified.
    assert _click(client, slack_b.tenant.slug, secret=SECRET_A, run_ref=str(run_a.tracking_id)).status_code == 401
    assert _reload(run_a).feedback == {}


def test_unsigned_or_unknown_tenant_feedback_is_refused(client, slack_a):
    run = _queued_run(slack_a, status=RunStatus.SUCCEEDED, answer_markdown="Forty-two.")
    assert _click(client, "acme-a", secret="not-the-secret", run_ref=str(run.tracking_id)).status_code == 401
    assert _click(client, "no-such-tenant", secret=SECRET_A, run_ref=str(run.tracking_id)).status_code == 404
    assert _reload(run).feedback == {}


@pytest.mark.parametrize("run_ref", ["not-a-uuid", "", "00000000-0000-0000-0000-000000000000", "x" * 500])
def test_feedback_with_a_bad_run_reference_is_ignored(client, slack_a, run_ref):
    run = _queued_run(slack_a, status=RunStatus.SUCCEEDED, answer_markdown="Forty-two.")
    assert _click(client, "acme-a", secret=SECRET_A, run_ref=run_ref).status_code == 200
    assert _reload(run).feedback == {}


def test_feedback_from_another_workspace_is_ignored(client, slack_a):
    run = _queued_run(slack_a, status=RunStatus.SUCCEEDED, answer_markdown="Forty-two.")
    assert _click(client, "acme-a", secret=SECRET_A, run_ref=str(run.tracking_id), team="TOTHER").status_code == 200
    assert _reload(run).feedback == {}


def test_members_only_tenant_takes_feedback_from_members_only(client, slack_a):
    slack_a.tenant.settings = {**slack_a.tenant.settings, "slack": {"members_only": True}}
    slack_a.tenant.save()
    run = _queued_run(slack_a, status=RunStatus.SUCCEEDED, answer_markdown="Forty-two.")
    _click(client, "acme-a", secret=SECRET_A, run_ref=str(run.tracking_id))
    assert _reload(run).feedback == {}
    Membership.objects.filter(user=slack_a.viewer, tenant=slack_a.tenant).update(slack_user_id="UHUMAN1")
    _click(client, "acme-a", secret=SECRET_A, run_ref=str(run.tracking_id))
    assert _reload(run).feedback["slack:UHUMAN1"]["value"] == "up"
