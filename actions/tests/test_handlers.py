"""Handlers against local fakes: Slack notifications, Salesforce errors, warehouse writes into a
real insights table through an insert-only role."""

from __future__ import annotations

import secrets

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection
from psycopg import sql as pg_sql

from actions.handlers.base import ActionInvalid
from actions.insights import insights_credential_set, insights_table_create, insights_table_drop, writer_role_name
from actions.models import Action, ActionStatus
from actions.services import action_approve, action_create, action_retry_now
from actions.tasks import execute_action
from actions.tests.conftest import reload
from revops.tests.fixtures.salesforce import OPP_ID

SCHEMA = "actions_pytest_insights"
TABLE = "insights"


# --- slack_notify --------------------------------------------------------------------------------


def notify(world, *, key="n1", channel="#deals", text="**Acme** is *at risk* <!channel>"):
    return action_create(tenant=world.tenant, kind="slack_notify", payload={"channel": channel, "text": text}, idempotency_key=key).action


def test_slack_notify_posts_through_the_tenants_bot(slack_a, fake_slack, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        action = notify(slack_a)
    action = reload(action)
    assert action.status == ActionStatus.SUCCEEDED and action.target == "Slack #deals"
    call = fake_slack.calls("chat.postMessage")[-1]
    assert call.authorization == "Bearer xoxb-1111-2222-tenantAtoken"
    assert call.body["channel"] == "#deals"
    assert call.body["text"] == "*Acme* is _at risk_ &lt;!channel&gt;"  # mrkdwn, no smuggled ping
    assert action.result["ts"]


def test_slack_notify_refused_channel_fails_without_retry(slack_a, fake_slack, django_capture_on_commit_callbacks):
    fake_slack.errors["chat.postMessage"] = "channel_not_found"
    with django_capture_on_commit_callbacks(execute=True):
        action = notify(slack_a)
    action = reload(action)
    assert action.status == ActionStatus.FAILED and "channel_not_found" in action.last_error
    assert len(fake_slack.calls("chat.postMessage")) == 1


def test_slack_notify_transient_error_is_retried_until_dead(slack_a, fake_slack, django_capture_on_commit_callbacks):
    fake_slack.errors["chat.postMessage"] = "internal_error"
    with django_capture_on_commit_callbacks(execute=True):
        action = notify(slack_a)
    action = reload(action)
    assert action.status == ActionStatus.DEAD and action.attempts == 4
    assert len(fake_slack.calls("chat.postMessage")) == 4


def test_slack_notify_without_a_bot_fails(world_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        action = notify(world_a)
    assert reload(action).status == ActionStatus.FAILED


@pytest.mark.parametrize(
    "payload",
    [{"channel": "deals", "text": "x"}, {"channel": "#deals", "text": ""}, {"channel": "#deals"}, {"channel": "<!here>", "text": "x"}],
)
def test_slack_notify_payload_is_validated(world_a, payload):
    with pytest.raises(ActionInvalid):
        action_create(tenant=world_a.tenant, kind="slack_notify", payload=payload, idempotency_key="bad")
    assert not Action.objects.unscoped().filter(tenant=world_a.tenant).exists()


# --- crm_update ----------------------------------------------------------------------------------


def approved_crm(world, *, fields=None, record_id=OPP_ID, key="c1"):
    action = action_create(
        tenant=world.tenant,
        kind="crm_update",
        payload={"object": "Opportunity", "record_id": record_id, "fields": fields or {"StageName": "Closed Won"}},
        idempotency_key=key,
    ).action
    return action_approve(action=action, via="test")


def test_crm_transient_errors_are_retried(world_a, salesforce_a, django_capture_on_commit_callbacks):
    salesforce_a.statuses = [503, 503]  # the GET of attempt 1, then of attempt 2
    with django_capture_on_commit_callbacks(execute=True):
        action = approved_crm(world_a)
    action = reload(action)
    assert action.status == ActionStatus.SUCCEEDED and action.attempts == 3
    assert len(salesforce_a.patches()) == 1


@pytest.mark.parametrize(
    "setup, expected",
    [
        ({"record_id": "0065g00000ZZZZZZZZ"}, "does not exist"),
        ({"fields": {"NoSuchField__c": "x"}}, "INVALID_FIELD"),
        ({"token": "revoked"}, "access token"),
    ],
)
def test_crm_permanent_errors_fail_at_once(world_a, salesforce_a, django_capture_on_commit_callbacks, setup, expected):
    if "token" in setup:
        salesforce_a.token = setup["token"]
    kwargs = {k: v for k, v in setup.items() if k != "token"}
    with django_capture_on_commit_callbacks(execute=True):
        action = approved_crm(world_a, **kwargs)
    action = reload(action)
    assert action.status == ActionStatus.FAILED and action.attempts == 1 and expected in action.last_error


def test_crm_instance_must_pass_the_ssrf_guard(world_a, salesforce_a, django_capture_on_commit_callbacks):
    tenant = world_a.tenant
    tenant.settings = {}  # no allowlist: the loopback instance URL is refused
    tenant.save()
    with django_capture_on_commit_callbacks(execute=True):
        action = approved_crm(world_a)
    action = reload(action)
    assert action.status == ActionStatus.FAILED and "non-public" in action.last_error and salesforce_a.requests == []


@pytest.mark.parametrize(
    "payload",
    [
        {"object": "Account", "record_id": OPP_ID, "fields": {"Name": "x"}},
        {"object": "Opportunity", "record_id": "006'; DROP", "fields": {"Name": "x"}},
        {"object": "Opportunity", "record_id": OPP_ID, "fields": {}},
        {"object": "Opportunity", "record_id": OPP_ID, "fields": {"Id": "x"}},
        {"object": "Opportunity", "record_id": OPP_ID, "fields": {"Stage Name": "x"}},
        {"object": "Opportunity", "record_id": OPP_ID, "fields": {"Amount": {"nested": 1}}},
    ],
)
def test_crm_payload_is_validated(world_a, payload):
    with pytest.raises(ActionInvalid):
        action_create(tenant=world_a.tenant, kind="crm_update", payload=payload, idempotency_key="bad")


# --- warehouse_write -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def insights_table(django_db_setup, django_db_blocker):
    """A committed insights table and its insert-only role (the writer's own connection must
    see them), plus a neighbour table the role must not touch."""
    with django_db_blocker.unblock():
        role = writer_role_name(dbname=connection.settings_dict["NAME"], schema=SCHEMA, table=TABLE)
        password = secrets.token_urlsafe(16)
        insights_table_create(schema=SCHEMA, table=TABLE, role=role, password=password)
        with connection.cursor() as cur:
            cur.execute(pg_sql.SQL("CREATE TABLE IF NOT EXISTS {} (x text)").format(pg_sql.Identifier(SCHEMA, "neighbour")).as_string(connection.connection))
        yield {"role": role, "password": password}
        with connection.cursor() as cur:
            cur.execute(pg_sql.SQL("DROP TABLE IF EXISTS {}").format(pg_sql.Identifier(SCHEMA, "neighbour")).as_string(connection.connection))
        insights_table_drop(schema=SCHEMA, table=TABLE, role=role)
        with connection.cursor() as cur:
            cur.execute(pg_sql.SQL("DROP SCHEMA IF EXISTS {}").format(pg_sql.Identifier(SCHEMA)).as_string(connection.connection))


@pytest.fixture
def insights_a(world_a, insights_table):
    insights_credential_set(tenant=world_a.tenant, schema=SCHEMA, table=TABLE, role=insights_table["role"], password=insights_table["password"])
    return insights_table


def rows_for(key: str) -> list[tuple]:
    with connection.cursor() as cur:
        cur.execute(
            pg_sql.SQL("SELECT category, type, title, score, source_agent, run_id FROM {} WHERE action_key = %s").format(
                pg_sql.Identifier(SCHEMA, TABLE)
            ).as_string(connection.connection),
            [key],
        )
        return cur.fetchall()


INSIGHT = {"category": "deal", "type": "risk", "title": "Acme renewal at risk", "description": "Champion left.", "score": 0.41, "source_agent": "deal_analysis"}


def test_warehouse_write_waits_for_approval_then_inserts_once(world_a, insights_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        action = action_create(tenant=world_a.tenant, kind="warehouse_write", payload=INSIGHT, idempotency_key="w1").action
    assert action.status == ActionStatus.PROPOSED and action.target == f"{SCHEMA}.{TABLE}"
    assert rows_for(str(action.message_id)) == []
    with django_capture_on_commit_callbacks(execute=True):
        action_approve(action=action, via="test")
    action = reload(action)
    assert action.status == ActionStatus.SUCCEEDED and action.result["inserted"] is True
    assert rows_for(str(action.message_id)) == [("deal", "risk", "Acme renewal at risk", 0.41, "deal_analysis", None)]
    # Executed again (an admin's retry after a lost outcome): still one row.
    Action.objects.unscoped().filter(pk=action.pk).update(status=ActionStatus.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        assert action_retry_now(action=reload(action), via="test")
    assert reload(action).result["inserted"] is False
    assert len(rows_for(str(action.message_id))) == 1


@pytest.mark.parametrize("change", [{"score": 1.5}, {"score": -0.1}, {"title": ""}, {"category": "x" * 65}, {"type": None}])
def test_warehouse_write_payload_is_typed(world_a, change):
    with pytest.raises(ActionInvalid):
        action_create(tenant=world_a.tenant, kind="warehouse_write", payload={**INSIGHT, **change}, idempotency_key="bad")


def test_warehouse_write_without_a_table_fails(world_a, django_capture_on_commit_callbacks):
    action = action_create(tenant=world_a.tenant, kind="warehouse_write", payload=INSIGHT, idempotency_key="w1").action
    with django_capture_on_commit_callbacks(execute=True):
        action_approve(action=action, via="test")
    action = reload(action)
    assert action.status == ActionStatus.FAILED and "no insights table" in action.last_error


def test_the_writer_role_can_insert_into_exactly_that_table(insights_table):
    settings_dict = connection.settings_dict
    options = settings_dict.get("OPTIONS") or {}
    conninfo = {
        "host": settings_dict.get("HOST") or options.get("host") or None,
        "port": settings_dict.get("PORT") or options.get("port") or None,
        "dbname": settings_dict["NAME"],
        "user": insights_table["role"],
        "password": insights_table["password"],
    }
    denied = [
        pg_sql.SQL("SELECT * FROM {}").format(pg_sql.Identifier(SCHEMA, TABLE)),
        pg_sql.SQL("UPDATE {} SET score = 0").format(pg_sql.Identifier(SCHEMA, TABLE)),
        pg_sql.SQL("DELETE FROM {}").format(pg_sql.Identifier(SCHEMA, TABLE)),
        pg_sql.SQL("TRUNCATE {}").format(pg_sql.Identifier(SCHEMA, TABLE)),
        pg_sql.SQL("INSERT INTO {} VALUES ('x')").format(pg_sql.Identifier(SCHEMA, "neighbour")),
        pg_sql.SQL("CREATE TABLE {} (x int)").format(pg_sql.Identifier(SCHEMA, "mine")),
        pg_sql.SQL("SELECT count(*) FROM actions_action"),
    ]
    with psycopg.connect(**{k: v for k, v in conninfo.items() if v}, autocommit=True) as conn:
        for statement in denied:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        key = f"probe-{secrets.token_hex(4)}"
        conn.execute(
            pg_sql.SQL("INSERT INTO {} (action_key, category, type, title, description, score, source_agent) VALUES (%s, 'c', 't', 'x', '', 0.5, 'test')").format(
                pg_sql.Identifier(SCHEMA, TABLE)
            ),
            [key],
        )
    assert len(rows_for(key)) == 1


@pytest.mark.django_db(transaction=True)
def test_insights_setup_command_makes_a_tenant_writable(world_a, django_capture_on_commit_callbacks):
    """``manage.py insights_setup`` (what the demo tenant needs) creates table, role, credential."""
    schema = "actions_pytest_setup"
    role = writer_role_name(dbname=connection.settings_dict["NAME"], schema=schema, table="insights")
    try:
        call_command("insights_setup", tenant="acme-a", schema=schema, stdout=open("/dev/null", "w"))
        action = action_create(tenant=world_a.tenant, kind="warehouse_write", payload=INSIGHT, idempotency_key="w1").action
        action_approve(action=action, via="test")  # autocommit: the sync broker runs it at once
        action = reload(action)
        assert action.status == ActionStatus.SUCCEEDED, action.last_error
        with connection.cursor() as cur:
            cur.execute(f'SELECT title FROM "{schema}"."insights"')
            assert cur.fetchall() == [("Acme renewal at risk",)]
    finally:
        insights_table_drop(schema=schema, table="insights", role=role)
        with connection.cursor() as cur:
            cur.execute(f'DROP SCHEMA IF EXISTS "{schema}"')


def test_execute_unknown_action_is_skipped(db):
    assert execute_action(987654) == "skipped"
