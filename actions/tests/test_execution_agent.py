"""The execution agent: instructions become actions with previews; held writes never execute;
the answer reports every action id; an action whose connector the tenant lacks is not proposed."""

from __future__ import annotations

import pytest

from actions.insights import insights_credential_set
from actions.models import Action, ActionStatus
from actions.tests.conftest import reload
from agents.playbooks import execution
from agents.runtime.context import RunContext
from agents.services import run_create
from revops.tests.fixtures.salesforce import OPP_ID
from tenants.context import tenant_context
from tenants.models import Membership

DEAL_SECTION = """### The Dry Numbers

- **Owners**: Moses Frase, Darcel Schlecht
- **Deal health**: 41/100 (Critical): Buyer engagement 10/25"""


def ask(world, query: str, *, prior: str = DEAL_SECTION, slack_user: str | None = None, capture=None):
    reply_to = {"slack": {"channel": "C0CHAN", "thread_ts": "1700000001.000100", "user": slack_user}} if slack_user else {}
    run = run_create(tenant=world.tenant, channel="slack" if slack_user else "api", query=query, reply_to=reply_to, enqueue=False)
    with tenant_context(world.tenant):
        if capture is not None:
            with capture(execute=True):
                result = execution.answer(RunContext(run=run), query, prior_markdown=prior)
        else:
            result = execution.answer(RunContext(run=run), query, prior_markdown=prior)
    actions = list(Action.objects.unscoped().filter(run=run).order_by("pk"))
    return run, result, actions


def test_summary_to_a_channel_is_sent_and_reported(slack_a, fake_slack, django_capture_on_commit_callbacks):
    run, result, actions = ask(slack_a, "send a summary of at-risk deals to the #deals channel", capture=django_capture_on_commit_callbacks)
    assert [(a.kind, a.payload["channel"]) for a in actions] == [("slack_notify", "#deals")]
    action = reload(actions[0])
    assert action.status == ActionStatus.SUCCEEDED
    assert "Moses Frase" in fake_slack.messages()[-1]["text"]
    assert f"**Action {action.pk}**" in result.markdown and result.entities == {"action_ids": [action.pk]}
    step = run.steps.get(name="action_propose")
    assert step.output["action_id"] == action.pk


def test_crm_update_is_proposed_with_a_preview_and_not_executed(world_a, salesforce_a, django_capture_on_commit_callbacks):
    run, result, actions = ask(world_a, f"Update the stage of opportunity {OPP_ID} to Closed Won", capture=django_capture_on_commit_callbacks)
    assert len(actions) == 1
    action = reload(actions[0])
    assert action.kind == "crm_update" and action.status == ActionStatus.PROPOSED
    assert action.payload == {"object": "Opportunity", "record_id": OPP_ID, "fields": {"StageName": "Closed Won"}}
    assert salesforce_a.requests == []
    assert "awaiting approval" in result.markdown and f"/api/v1/actions/{action.pk}/approve" in result.markdown
    assert "StageName → 'Closed Won'" in result.markdown  # the preview


def test_notify_the_owner_uses_the_slack_user_map_and_members(slack_a, fake_slack, django_capture_on_commit_callbacks):
    tenant = slack_a.tenant
    tenant.settings = {"actions": {"slack_users": {"Moses Frase": "UMOSES"}}}
    tenant.save()
    slack_a.owner.first_name, slack_a.owner.last_name = "Darcel", "Schlecht"
    slack_a.owner.save()
    Membership.objects.filter(user=slack_a.owner, tenant=tenant).update(slack_user_id="UDARCEL")
    _, result, actions = ask(slack_a, "notify the owner of the Acme deal", capture=django_capture_on_commit_callbacks)
    assert sorted(a.payload["channel"] for a in actions) == ["UDARCEL", "UMOSES"]
    assert all(reload(a).status == ActionStatus.SUCCEEDED for a in actions)


def test_unmapped_owner_is_explained_not_guessed(world_a):
    _, result, actions = ask(world_a, "notify the owner of the Acme deal")
    assert actions == []
    assert "No Slack account is on file for Moses Frase, Darcel Schlecht" in result.markdown


@pytest.fixture
def insights_configured_a(world_a):
    """Tenant A's insights_writer credential (configuration only: the actions stay proposed, so
    no table is needed)."""
    insights_credential_set(tenant=world_a.tenant, schema="insights_exec", table="insights", role="wi_exec_test", password="pw-for-tests-only")
    return world_a


def test_insight_uses_the_deal_health_score_and_waits_for_approval(world_a, insights_configured_a):
    _, result, actions = ask(world_a, "log an insight that the Acme deal is at risk")
    assert len(actions) == 1 and actions[0].status == ActionStatus.PROPOSED
    assert actions[0].payload | {"description": ""} == {
        "category": "deal", "type": "risk", "title": "the Acme deal is at risk", "description": "", "score": 0.41, "source_agent": "deal_analysis",
    }


def test_insight_without_a_score_is_not_invented(world_a):
    _, result, actions = ask(world_a, "log an insight about pipeline coverage", prior="")
    assert actions == [] and "needs a score" in result.markdown


def test_webhook_to_the_named_endpoint(world_a, endpoint_a, django_capture_on_commit_callbacks):
    endpoint_a(description="Ops hub")
    endpoint, receiver = endpoint_a(description="CRM sync")
    _, result, actions = ask(world_a, "post this to the CRM sync webhook", capture=django_capture_on_commit_callbacks)
    assert [a.payload["endpoint_id"] for a in actions] == [endpoint.pk]
    assert reload(actions[0]).status == ActionStatus.SUCCEEDED and len(receiver.effects) == 1


def test_the_same_run_never_creates_an_action_twice(world_a, salesforce_a):
    run, _, actions = ask(world_a, f"set the stage of opportunity {OPP_ID} to Closed Won")
    ctx = RunContext(run=run)
    ctx._position = run.steps.count()  # the run executed again (its worker died after the first time)
    with tenant_context(world_a.tenant):
        again = execution.answer(ctx, run.query, prior_markdown=DEAL_SECTION)
    assert again.entities["action_ids"] == [actions[0].pk]
    assert Action.objects.unscoped().filter(run=run).count() == 1


@pytest.mark.parametrize(
    "query, expected",
    [
        ("update the CRM", "record id"),
        (f"update opportunity {OPP_ID}", "which field and value"),
        ("do something useful", "could not tell which action"),
    ],
)
def test_unclear_requests_are_explained(world_a, query, expected):
    _, result, actions = ask(world_a, query, prior="")
    assert actions == [] and expected in result.markdown.lower()


def test_crm_update_is_not_proposed_without_a_salesforce_connector(world_a):
    """Tenant A has no Salesforce credential: approving a CRM update could only fail, so none is
    proposed, and the answer names the missing connector and both ways to add it."""
    run, result, actions = ask(world_a, f"Update the stage of opportunity {OPP_ID} to Closed Won")
    assert actions == [] and result.entities == {"action_ids": []}
    assert Action.objects.unscoped().filter(tenant=world_a.tenant).count() == 0
    text = result.markdown
    assert "No CRM update was proposed: no Salesforce connector is configured for this tenant" in text
    assert "Connector credentials → Add → Salesforce" in text
    assert "manage.py connector_set --tenant acme-a --kind salesforce" in text and "awaiting approval" not in text
    step = run.steps.get(name="action_propose")
    assert step.input == {"kind": "crm_update"} and step.error.startswith("connector missing: no Salesforce connector")


def test_insight_is_not_proposed_without_an_insights_table(world_a):
    _, result, actions = ask(world_a, "log an insight that the Acme deal is at risk")
    assert actions == []
    assert "No insight was proposed: no insights table is configured" in result.markdown
    assert "manage.py insights_setup --tenant acme-a" in result.markdown


def test_notification_is_not_proposed_without_a_slack_bot(world_a):
    _, result, actions = ask(world_a, "send a summary of at-risk deals to #deals")
    assert actions == []
    assert "No Slack notification was proposed: the tenant has no Slack app with a bot token" in result.markdown
    assert "--kind slack --secret signing_secret=@signing.txt --secret bot_token=@token.txt" in result.markdown


def test_only_the_action_without_its_connector_is_left_out(slack_a, fake_slack, django_capture_on_commit_callbacks):
    """Slack is configured, Salesforce is not: the notification goes, the CRM update is explained."""
    _, result, actions = ask(
        slack_a, f"post to #deals and set the stage of opportunity {OPP_ID} to Closed Won", capture=django_capture_on_commit_callbacks,
    )
    assert [a.kind for a in actions] == ["slack_notify"] and reload(actions[0]).status == ActionStatus.SUCCEEDED
    assert "No CRM update was proposed" in result.markdown and f"**Action {actions[0].pk}**" in result.markdown
