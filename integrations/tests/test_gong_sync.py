"""Gong sync (issue 12 part 3) through our httpx client against the local fake
(``integrations/tests/fake_gong.py``), on a tenant whose accounts come from the Salesforce sync
(fake Salesforce seeded from the demo CSV files). The synced calls must reach the deal copilot's
call summaries and competitor mentions through the semantic model.
"""

from __future__ import annotations

import datetime as dt
import io
import time

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from psycopg import sql as pg_sql

from actions.tests.fakes import Servers
from agents.models import Channel, Run
from agents.services import run_claim, run_create, run_execute
from agents.tests.sfdc_shape import sfdc_documents
from integrations.gong.services import gong_sync_run
from integrations.gong.sync import domain_of, gong_sync
from integrations.models import ConnectorCredential, SyncState, SyncStatus
from integrations.salesforce.services import salesforce_sync_run
from integrations.services import credential_set
from integrations.tests.fake_gong import FakeGong, gong_handler
from integrations.tests.fake_salesforce import account_domain, demo_records, start_fake_salesforce
from integrations.warehouse.loader import reader_role_name, warehouse_drop
from integrations.warehouse.postgres import warehouse_connections_close
from knowledge.models import KnowledgeDocument
from tenants.context import tenant_context
from tenants.services import tenant_create

pytestmark = pytest.mark.django_db(transaction=True)

ACME, BETA = "001000000001000", "001000000001001"  # demo accounts 1000 Acme Corporation, 1001 Betasoloin


@pytest.fixture
def servers():
    made = Servers()
    yield made
    made.close()


@pytest.fixture
def fake_gong(servers) -> FakeGong:
    state = FakeGong()
    state.port = servers.start(gong_handler(state))
    return state


@pytest.fixture
def made_schemas():
    schemas: list[str] = []
    yield schemas
    warehouse_connections_close()
    for schema in schemas:
        warehouse_drop(schema=schema, reader_role=reader_role_name(dbname=connection.settings_dict["NAME"], schema=schema))


def _gong_credential(tenant, fake: FakeGong, **config) -> None:
    credential_set(tenant=tenant, kind="gong", config={"base_url": fake.base_url, "from_date": "2025-01-01", **config},
                   secrets={"access_key": fake.access_key, "access_key_secret": fake.access_key_secret})


def _seed_calls(fake: FakeGong) -> None:
    """Seven calls in June 2025: five with Acme (CRM context), one with Betasoloin linked only by a
    participant's e-mail domain, one with nobody we know."""
    rep = {"name": "Darcel Schlecht", "emailAddress": "darcel.schlecht@hardware.example", "affiliation": "Internal", "speakerId": "rep"}
    for day in range(1, 6):
        fake.add_call(
            f"77{day:03d}", started=f"2025-06-{day * 3:02d}T15:00:00-04:00", title=f"Acme weekly sync {day}", account_id=ACME,
            parties=[rep, {"name": "Paul Stokes", "emailAddress": "paul.stokes@acmecorporation.com", "speakerId": "cust"}],
            transcript=[("rep", f"Thanks for joining the rollout review number {day}."),
                        ("cust", "We are also evaluating BlueHawk for the second site and need pricing by Friday." if day == 5
                         else f"The pilot in building {day} is running and the team likes the integration.")],
        )
    fake.add_call(
        "88001", started="2025-06-20T10:00:00+00:00", title="Betasoloin discovery", account_id=None,
        parties=[rep, {"name": "Ana Lima", "emailAddress": f"ana.lima@{account_domain('Betasoloin')}", "speakerId": "cust"}],
        transcript=[("cust", "Our procurement team wants a security review before the trial starts.")],
    )
    fake.add_call(
        "99001", started="2025-06-21T10:00:00+00:00", title="Unknown prospect", account_id=None,
        parties=[{"name": "Zed", "emailAddress": "zed@nowhere.example"}], transcript=[("s0", "Just looking.")],
    )


@pytest.fixture
def sf_tenant(tmp_path, settings, servers, made_schemas):
    """A tenant whose accounts, users and first 200 opportunities came from the Salesforce sync."""
    fake_sf = start_fake_salesforce(servers, tmp_path)
    settings.SALESFORCE_CA_BUNDLE = fake_sf.ca_path
    records = demo_records()
    fake_sf.seed({"Account": records["Account"], "User": records["User"], "Opportunity": records["Opportunity"][:200]})
    tenant = tenant_create(slug="gongco", name="Gong Co", time_zone="America/New_York",
                           settings={"as_of_date": "2025-06-30", "llm_provider": "offline", "actions": {"outbound_allowlist": ["127.0.0.1/32"]}})
    credential_set(tenant=tenant, kind="salesforce",
                   config={"instance_url": fake_sf.instance_url, "login_url": fake_sf.instance_url, "client_id": fake_sf.client_id},
                   secrets={"refresh_token": fake_sf.refresh_token, "client_secret": fake_sf.client_secret})
    report, offer = salesforce_sync_run(tenant=tenant, retry_wait=0)
    made_schemas.append(report.schema)
    assert report.ok and offer.action == "published", report.error
    sfdc_documents(tenant)
    return tenant


def _calls(schema: str, columns: str, where: str = "") -> list[tuple]:
    with connection.cursor() as cur:
        cur.execute(pg_sql.SQL(f"SELECT {columns} FROM {{}} {where} ORDER BY 1").format(pg_sql.Identifier(schema, "gong_call")).as_string(cur.connection))
        return cur.fetchall()


def _ask(tenant, question: str) -> str:
    with transaction.atomic():
        run = run_create(tenant=tenant, channel=Channel.CLI, query=question, as_of=dt.date(2025, 6, 30), enqueue=False)
        run_claim(run_id=run.pk)
    with tenant_context(tenant):
        run = run_execute(run=Run.objects.get(pk=run.pk))
    assert run.status == "succeeded", run.error if hasattr(run, "error") else run.status
    return run.answer_markdown or ""


def test_synced_calls_reach_the_copilot_summary_and_competitor_mentions(sf_tenant, fake_gong):
    _seed_calls(fake_gong)
    fake_gong.page_size = 3
    _gong_credential(sf_tenant, fake_gong)
    report, offer = gong_sync_run(tenant=sf_tenant, wait_scale=0)
    assert report.ok, report.error
    assert (report.fetched, report.upserted, report.batches) == (7, 7, 3)
    assert (report.linked_crm, report.linked_domain) == (5, 1)
    assert offer.action == "updated"
    assert _calls(report.schema, "id, account_id, account_link") == [
        *[(f"77{d:03d}", ACME, "crm") for d in range(1, 6)], ("88001", BETA, "domain"), ("99001", None, None)]
    assert _calls(report.schema, "call_date, external_participants, transcript", "WHERE id = '77005'") == [
        (dt.date(2025, 6, 15), "Paul Stokes",
         "Darcel Schlecht: Thanks for joining the rollout review number 5.\n"
         "Paul Stokes: We are also evaluating BlueHawk for the second site and need pricing by Friday.")]
    doc = KnowledgeDocument.objects.for_tenant(sf_tenant).get(title="Salesforce semantic model")
    assert "table: gong_call" in doc.body

    summary = _ask(sf_tenant, "Summarize the last 5 calls with Acme Corporation")
    assert "Last 5 call notes with Acme Corporation" in summary
    assert "We are also evaluating BlueHawk for the second site" in summary
    assert "2025-06-15" in summary and "2025-06-03" in summary
    assert "Competitors named in these notes: BlueHawk (1 note)" in summary

    competitors = _ask(sf_tenant, "Which competitors came up in calls with Acme Corporation?")
    assert "BlueHawk" in competitors

    beta = _ask(sf_tenant, "Summarize the last 5 calls with Betasoloin")
    assert "security review before the trial starts" in beta

    # second run: only calls at or after the watermark are read; one changed title is counted
    fake_gong.update_call("99001", title="Unknown prospect (renamed)")
    fake_gong.add_call("99002", started="2025-06-25T10:00:00+00:00", title="New call", account_id=ACME,
                       parties=[{"name": "Paul Stokes", "emailAddress": "paul.stokes@acmecorporation.com"}], transcript=[("s0", "Hello.")])
    before = len(fake_gong.requests)
    report2 = gong_sync(tenant=sf_tenant, wait_scale=0)
    assert report2.ok and (report2.fetched, report2.upserted) == (2, 2)
    assert [p for p, _ in fake_gong.requests[before:]] == ["/v2/calls/extensive", "/v2/calls/transcript"]
    assert fake_gong.requests[before][1]["filter"]["fromDateTime"] == "2025-06-21T10:00:00+00:00"
    state = SyncState.objects.for_tenant(sf_tenant).get(source="gong", stream="calls")
    assert state.status == SyncStatus.SUCCEEDED and state.watermark == dt.datetime(2025, 6, 25, 10, tzinfo=dt.timezone.utc)
    assert gong_sync_run(tenant=sf_tenant, wait_scale=0)[1].action == "kept"


def test_a_full_run_deletes_the_calls_gong_no_longer_lists(sf_tenant, fake_gong):
    """Gong has no deleted-call feed: incremental runs keep a call deleted in Gong; a full run
    (re-reading from from_date) deletes it, and the copilot stops quoting it. A full run that
    fails on a page deletes nothing."""
    _seed_calls(fake_gong)
    fake_gong.page_size = 3
    _gong_credential(sf_tenant, fake_gong)
    first = gong_sync(tenant=sf_tenant, wait_scale=0)
    assert first.ok and len(_calls(first.schema, "id")) == 7
    fake_gong.calls = [c for c in fake_gong.calls if c["metaData"]["id"] != "88001"]  # deleted in Gong

    incremental = gong_sync(tenant=sf_tenant, wait_scale=0)
    assert incremental.ok and incremental.deleted == 0
    assert ("88001",) in _calls(first.schema, "id")

    fake_gong.plan = [None, None, None, 500, 500, 500, 500, 500]  # page 1 and the calls of page 2, then its transcripts fail
    failed = gong_sync(tenant=sf_tenant, full=True, wait_scale=0)
    assert not failed.ok and failed.deleted == 0
    assert ("88001",) in _calls(first.schema, "id")

    fake_gong.plan = [None, None, 404]  # page 1, then a 404 on the cursor page: an error, not the end of the listing
    failed = gong_sync(tenant=sf_tenant, full=True, wait_scale=0)
    assert not failed.ok and "next page of the calls request with HTTP 404" in failed.error and failed.deleted == 0
    assert ("88001",) in _calls(first.schema, "id")

    listed, fake_gong.calls = fake_gong.calls, []  # Gong lists nothing (as with another workspace's key)
    failed = gong_sync(tenant=sf_tenant, full=True, wait_scale=0)
    assert not failed.ok and "Gong listed no call since 2025-01-01 while 7 are stored; nothing was deleted" in failed.error
    assert len(_calls(first.schema, "id")) == 7
    fake_gong.calls = listed

    # A row started after the latest call Gong lists (as a run overlapping this one could write)
    # is outside what the listing covers, so it is kept.
    with connection.cursor() as cur:
        cur.execute(pg_sql.SQL("INSERT INTO {} (id, started_at) VALUES ('late-1', '2025-06-29T10:00:00+00:00')").format(pg_sql.Identifier(first.schema, "gong_call")))
    fake_gong.plan = []
    full = gong_sync(tenant=sf_tenant, full=True, wait_scale=0)
    assert full.ok and (full.fetched, full.deleted) == (6, 1), full
    assert sorted(_calls(first.schema, "id")) == [("77001",), ("77002",), ("77003",), ("77004",), ("77005",), ("99001",), ("late-1",)]
    assert fake_gong.requests[-2][1]["filter"]["fromDateTime"].startswith("2025-01-01")  # from from_date, not the watermark
    state = SyncState.objects.for_tenant(sf_tenant).get(source="gong", stream="calls")
    assert state.status == SyncStatus.SUCCEEDED and state.rows_deleted == 1
    assert "security review before the trial starts" not in _ask(sf_tenant, "Summarize the last 5 calls with Betasoloin")

    out = io.StringIO()
    call_command("gong_sync", "--tenant", sf_tenant.slug, "--full", "--no-model", stdout=out)
    assert "6 call(s) read" in out.getvalue() and "0 deleted (no longer listed by Gong)" in out.getvalue()


def test_retry_after_is_honoured_then_the_page_is_read(sf_tenant, fake_gong):
    _seed_calls(fake_gong)
    _gong_credential(sf_tenant, fake_gong)
    fake_gong.plan = [429, 429]
    fake_gong.retry_after = "1"
    started = time.monotonic()
    report = gong_sync(tenant=sf_tenant)
    assert report.ok and report.fetched == 7, report.error
    gaps = [b - a for a, b in zip(fake_gong.request_times, fake_gong.request_times[1:])][:2]
    assert all(g >= 0.95 for g in gaps) and time.monotonic() - started < 10


def test_a_long_retry_after_is_capped(sf_tenant, fake_gong):
    _seed_calls(fake_gong)
    _gong_credential(sf_tenant, fake_gong, max_retry_after_seconds=0.2)
    fake_gong.plan = [429, 429]
    fake_gong.retry_after = "3600"
    started = time.monotonic()
    report = gong_sync(tenant=sf_tenant)
    assert report.ok and time.monotonic() - started < 5


@pytest.mark.parametrize(
    "plan, message",
    [([429] * 5, "kept rate-limiting the calls request (429 Too Many Requests) (5 attempts)"),
     (["malformed"], "not valid JSON"),
     ([None, "malformed"], "answered the transcript request with a response that is not valid JSON"),
     ([500] * 5, "answered the calls request with HTTP 500 (5 attempts)")],
    ids=["429-storm", "malformed-calls", "malformed-transcript", "500"],
)
def test_bad_answers_are_clear_errors_and_keep_committed_pages(sf_tenant, fake_gong, plan, message):
    _seed_calls(fake_gong)
    fake_gong.page_size = 3
    _gong_credential(sf_tenant, fake_gong)
    report = gong_sync(tenant=sf_tenant, wait_scale=0)  # a first full run: 7 calls
    assert report.ok
    fake_gong.add_call("99003", started="2025-06-28T10:00:00+00:00", title="Late call", parties=[])
    fake_gong.plan = list(plan)
    report = gong_sync(tenant=sf_tenant, wait_scale=0)
    assert not report.ok and message in report.error, report.error
    state = SyncState.objects.for_tenant(sf_tenant).get(source="gong", stream="calls")
    assert state.status == SyncStatus.FAILED and message in state.last_error
    assert state.watermark == dt.datetime(2025, 6, 21, 10, tzinfo=dt.timezone.utc)  # the last committed call
    assert len(_calls(report.schema, "id")) == 7
    credential = ConnectorCredential.objects.for_tenant(sf_tenant).get(kind="gong")
    assert message in credential.last_error and fake_gong.access_key_secret not in credential.last_error
    with pytest.raises(CommandError, match="Gong sync failed"):
        fake_gong.plan = list(plan)
        call_command("gong_sync", "--tenant", sf_tenant.slug)


def test_wrong_key_and_unreachable_host(sf_tenant, fake_gong):
    credential_set(tenant=sf_tenant, kind="gong", config={"base_url": fake_gong.base_url},
                   secrets={"access_key": "wrong", "access_key_secret": "nope-secret"})
    report = gong_sync(tenant=sf_tenant, wait_scale=0)
    assert "refused the access key (HTTP 401)" in report.error and "nope-secret" not in report.error
    credential_set(tenant=sf_tenant, kind="gong", config={"base_url": "http://127.0.0.1:9"},
                   secrets={"access_key": "k", "access_key_secret": "s"})
    report = gong_sync(tenant=sf_tenant, wait_scale=0)
    assert "cannot reach Gong at 127.0.0.1:9" in report.error


def test_no_gong_connector_is_a_clear_error(sf_tenant):
    report = gong_sync(tenant=sf_tenant)
    assert report.error == "no Gong connector is configured for this tenant"
    assert SyncState.objects.for_tenant(sf_tenant).get(source="gong").status == SyncStatus.FAILED


def test_domain_of():
    assert domain_of("https://www.Acme.com/about") == "acme.com"
    assert domain_of("paul@acme.com") == "acme.com"
    assert domain_of("acme.com") == "acme.com"
    assert domain_of("") == ""


def test_a_base_url_the_outbound_guard_refuses_is_a_clear_error(sf_tenant, fake_gong, settings):
    settings.ALLOW_HTTP_LOOPBACK_CALLBACKS = False  # the test settings let plain-http loopback fakes through
    _seed_calls(fake_gong)
    _gong_credential(sf_tenant, fake_gong)
    sf_tenant.settings = {**sf_tenant.settings, "actions": {"outbound_allowlist": []}}
    sf_tenant.save(update_fields=["settings"])
    report = gong_sync(tenant=sf_tenant, wait_scale=0)
    assert not report.ok and "the Gong connector's base_url was refused" in report.error, report.error
    assert fake_gong.requests == []
