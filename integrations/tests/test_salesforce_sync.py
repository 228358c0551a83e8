"""Salesforce sync (issue 12 part 2) through the real simple-salesforce client against the local
fake (``integrations/tests/fake_salesforce.py``) seeded from the demo CSV files.

Expected figures are computed here from the CSV files with the standard library, never from the
code under test. The tests commit (``transactional_db``): the agents read the synced tables as the
tenant's read-only reader role, on its own connection.
"""

from __future__ import annotations

import csv
import io
import datetime as dt
import socket
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from psycopg import sql as pg_sql

from agents.evaluation import eval_run
from agents.tests.sfdc_shape import sfdc_documents
from integrations.models import ConnectorCredential, SyncState, SyncStatus
from integrations.salesforce.services import salesforce_sync_run
from integrations.salesforce.sync import SYNC_OBJECTS, salesforce_sync
from integrations.services import credential_set
from integrations.tasks import salesforce_sync_tenant
from integrations.tests.fake_salesforce import CRM_DIR, demo_records, opportunity_sfid
from integrations.warehouse.loader import reader_role_name, warehouse_drop
from integrations.warehouse.postgres import warehouse_connections_close
from knowledge.models import DocumentStatus, KnowledgeDocument
from tenants.services import tenant_create

pytestmark = pytest.mark.django_db(transaction=True)

EVAL_PATH = Path(__file__).resolve().parents[2] / "agents" / "evals" / "semantic.yaml"


def _csv(name: str) -> list[dict[str, str]]:
    with open(CRM_DIR / f"{name}.csv", newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def _date(value: str) -> dt.date | None:
    if not value:
        return None
    m, d, y = (int(x) for x in value.split("/"))
    return dt.date(y, m, d)


def _tenant(slug: str, fake, **config):
    tenant = tenant_create(slug=slug, name=slug.title(), time_zone="America/New_York",
                           settings={"as_of_date": "2025-06-30", "llm_provider": "offline", "actions": {"outbound_allowlist": ["127.0.0.1/32"]}})
    credential_set(
        tenant=tenant, kind="salesforce",
        config={"instance_url": fake.instance_url, "login_url": fake.instance_url, "client_id": fake.client_id,
                "api_version": "59.0", "timeout_seconds": 2, **config},
        secrets={"refresh_token": fake.refresh_token, "client_secret": fake.client_secret},
    )
    return tenant


@pytest.fixture
def made_schemas():
    """Schemas (and their reader roles) the sync created; dropped at the end."""
    schemas: list[str] = []
    yield schemas
    warehouse_connections_close()
    for schema in schemas:
        warehouse_drop(schema=schema, reader_role=reader_role_name(dbname=connection.settings_dict["NAME"], schema=schema))


def _rows(schema: str, table: str, columns: str = "*", where: str = "") -> list[tuple]:
    with connection.cursor() as cur:
        cur.execute(pg_sql.SQL(f"SELECT {columns} FROM {{}} {where} ORDER BY 1").format(pg_sql.Identifier(schema, table)).as_string(cur.connection))
        return cur.fetchall()


def _count(schema: str, table: str) -> int:
    return _rows(schema, table, "count(*)")[0][0]


# -- expected figures from the CSV files ---------------------------------------------------------


def _expected_questions() -> list[dict]:
    pipeline = _csv("sales_pipeline")
    teams = {t["sales_agent"]: t for t in _csv("sales_teams")}
    price = {p["product_id"]: float(p["sales_price"]) for p in _csv("products")}

    def rate(rows) -> float:
        won = sum(1 for r in rows if r["deal_stage"] == "Won")
        closed = sum(1 for r in rows if r["deal_stage"] in ("Won", "Lost"))
        return round(100 * won / closed, 1)

    by_office = defaultdict(list)
    for r in pipeline:
        by_office[teams[r["sales_agent"]]["regional_office"]].append(r)
    q2 = [r for r in pipeline if r["close_date"] and dt.date(2025, 4, 1) <= _date(r["close_date"]) <= dt.date(2025, 6, 30)]
    open_rows = [r for r in pipeline if r["deal_stage"] in ("Prospecting", "Engaging")]
    open_by_stage = defaultdict(float)
    for r in open_rows:
        open_by_stage[{"Engaging": "Negotiation", "Prospecting": "Prospecting"}[r["deal_stage"]]] += price[r["product_id"]]
    open_by_account = defaultdict(float)
    for r in open_rows:
        if r["account"]:
            open_by_account[r["account"]] += price[r["product_id"]]
    top_account, top_value = max(open_by_account.items(), key=lambda kv: kv[1])
    darcel = [r for r in pipeline if r["sales_agent"] == "Darcel Schlecht"]
    west_open = sum(1 for r in open_rows if teams[r["sales_agent"]]["regional_office"] == "West")
    return [
        {"question": "What is the win rate by office?", "numbers": [rate(v) for v in by_office.values()], "names": sorted(by_office),
         "interpreted_as": {"metrics": ["win_rate"], "group_by": ["office"], "filters": [], "period": None}},
        {"question": "What is Darcel Schlecht's win rate?", "numbers": [rate(darcel)], "names": ["Darcel Schlecht"],
         "interpreted_as": {"metrics": ["win_rate"], "group_by": [], "filters": [["owner", "in", ["darcel schlecht"]]]}},
        {"question": "What was our win rate in Q2-2025?", "numbers": [rate(q2)], "names": [],
         "interpreted_as": {"metrics": ["win_rate"], "period": ["2025-04-01", "2025-06-30"]}},
        {"question": "What's the win rate for Codehow?", "numbers": [rate([r for r in pipeline if r["account"] == "Codehow"])], "names": ["Codehow"],
         "interpreted_as": {"metrics": ["win_rate"], "filters": [["account", "in", ["codehow"]]]}},
        {"question": "What's the open pipeline by stage?", "numbers": [round(v) for v in open_by_stage.values()], "names": sorted(open_by_stage),
         "interpreted_as": {"metrics": ["pipeline_value"], "group_by": ["stage"]}},
        {"question": "What's the pipeline value for Darcel Schlecht?",
         "numbers": [round(sum(price[r["product_id"]] for r in darcel if r["deal_stage"] in ("Prospecting", "Engaging")))], "names": ["Darcel Schlecht"],
         "interpreted_as": {"metrics": ["pipeline_value"], "filters": [["owner", "in", ["darcel schlecht"]]]}},
        {"question": "Which account has the largest open pipeline?", "numbers": [round(top_value)], "names": [top_account],
         "interpreted_as": {"metrics": ["pipeline_value"], "group_by": ["account"], "limit": 1, "desc": True}},
        {"question": "How many open deals does the West office have?", "numbers": [west_open], "names": ["West"],
         "interpreted_as": {"metrics": ["open_deals"], "filters": [["office", "in", ["west"]]]}},
        {"question": "Compare the win rate of the East vs West office", "numbers": [rate(by_office["East"]), rate(by_office["West"])],
         "names": ["East", "West"], "interpreted_as": {"metrics": ["win_rate"], "group_by": ["office"], "filters": [["office", "in", ["east", "west"]]]}},
    ]


def test_questions_come_from_the_eval_set():
    """The questions asked below are the compositional eval's own (agents/evals/semantic.yaml)."""
    texts = {q["question"] for q in yaml.safe_load(EVAL_PATH.read_text())["questions"]}
    assert {q["question"] for q in _expected_questions()} <= texts


# -- one sync, the eval, a second sync --------------------------------------------------------------


def test_synced_tenant_answers_pipeline_and_win_rate_then_second_sync_reads_only_changes(fake_sf, made_schemas):
    fake_sf.seed(demo_records())
    tenant = _tenant("sfsync", fake_sf)
    sfdc_documents(tenant)  # the demo KB documents (stages methodology, rules) except its semantic model

    report, offer = salesforce_sync_run(tenant=tenant, retry_wait=0)
    made_schemas.append(report.schema)
    assert report.ok, report.error
    assert offer is not None and offer.action == DocumentStatus.PUBLISHED

    # every record of the fake landed, deleted ones aside, and the counts match the CSV files
    pipeline, accounts, teams, notes = _csv("sales_pipeline"), _csv("accounts"), _csv("sales_teams"), _csv("interactions")
    assert _count(report.schema, "sf_opportunity") == len(pipeline)
    assert _count(report.schema, "sf_account") == len(accounts)
    assert _count(report.schema, "sf_user") == len(teams)
    assert _count(report.schema, "sf_task") == len(notes)
    by_obj = {o.object: o for o in report.objects}
    assert [o.object for o in report.objects] == [o.api_name for o in SYNC_OBJECTS]
    assert by_obj["Opportunity"].upserted == len(pipeline) and by_obj["Opportunity"].batches == -(-len(pipeline) // 2000)
    won = Counter(r["deal_stage"] for r in pipeline)
    assert _rows(report.schema, "sf_opportunity", "stage_name, count(*)", "GROUP BY stage_name") == sorted(
        [("Closed Lost", won["Lost"]), ("Closed Won", won["Won"]), ("Negotiation", won["Engaging"]), ("Prospecting", won["Prospecting"])]
    )
    states = {s.stream: s for s in SyncState.objects.for_tenant(tenant)}
    assert all(s.status == SyncStatus.SUCCEEDED and not s.last_error for s in states.values())
    assert all(s.watermark is not None for name, s in states.items() if name != "Event")  # the fake holds no Event

    # the installed model takes its stage groups from IsWon / IsClosed
    doc = KnowledgeDocument.objects.for_tenant(tenant).get(title="Salesforce semantic model")
    assert "won:\n  - Closed Won" in doc.body and "open:\n  - Prospecting\n  - Negotiation" in doc.body

    # the eval's pipeline and win-rate questions, figures from the CSV files
    expected = _expected_questions()
    rows = eval_run(tenant=tenant, data={"as_of": "2025-06-30", "tolerance": {"relative": 0.001, "absolute": 0.1}, "questions": expected})
    bad = [(r.question, r.missing, r.interpretation_diff) for r in rows if not r.answer_ok or r.interpreted_ok is False]
    assert not bad, bad

    # second sync: 3 records changed and 2 deleted in Salesforce
    opp_open = opportunity_sfid(next(r["opportunity_id"] for r in pipeline if r["deal_stage"] == "Engaging"))
    opp_won = opportunity_sfid(next(r["opportunity_id"] for r in pipeline if r["deal_stage"] == "Won"))
    opp_gone = opportunity_sfid(next(r["opportunity_id"] for r in pipeline if r["deal_stage"] == "Prospecting"))
    fake_sf.update("Opportunity", opp_open, StageName="Closed Won", IsWon=True, IsClosed=True, Probability=100,
                   ForecastCategoryName="Closed", CloseDate="2025-06-20", Amount=5000.0)
    fake_sf.update("Opportunity", opp_won, Amount=12345.0)
    fake_sf.update("Account", "001000000001000", Industry="software")
    fake_sf.delete("Opportunity", opp_gone)
    contact_gone = next(iter(fake_sf.records["Contact"]))
    fake_sf.delete("Contact", contact_gone)
    requests_before = len(fake_sf.data_requests())

    report2, offer2 = salesforce_sync_run(tenant=tenant, retry_wait=0)
    assert report2.ok, report2.error
    assert offer2.action == "kept"
    assert len(fake_sf.data_requests()) - requests_before == len(SYNC_OBJECTS)  # one page per object: only the changes
    got = {o.object: (o.upserted, o.deleted) for o in report2.objects}
    assert got == {"Account": (1, 0), "User": (0, 0), "Opportunity": (2, 1), "Contact": (0, 1),
                   "OpportunityContactRole": (0, 0), "Task": (0, 0), "Event": (0, 0)}
    # read: the changed and deleted records, plus the one record sitting exactly at each watermark
    # (re-read by SystemModstamp >= watermark, unchanged, so neither rewritten nor counted)
    fetched = {o.object: o.fetched for o in report2.objects}
    assert fetched["Opportunity"] == 3 + 1 and fetched["Account"] == 1 + 1 and fetched["Contact"] == 1 + 1 and fetched["Task"] == 1
    assert _rows(report2.schema, "sf_opportunity", "stage_name, is_won, amount::float, close_date", f"WHERE id = '{opp_open}'") == [
        ("Closed Won", True, 5000.0, dt.date(2025, 6, 20))]
    assert _rows(report2.schema, "sf_opportunity", "amount::float", f"WHERE id = '{opp_won}'") == [(12345.0,)]
    assert _rows(report2.schema, "sf_account", "industry", "WHERE id = '001000000001000'") == [("software",)]
    assert _rows(report2.schema, "sf_opportunity", "id", f"WHERE id = '{opp_gone}'") == []
    assert _rows(report2.schema, "sf_contact", "id", f"WHERE id = '{contact_gone}'") == []
    assert _count(report2.schema, "sf_opportunity") == len(pipeline) - 1
    state = SyncState.objects.for_tenant(tenant).get(stream="Opportunity")
    assert (state.rows_upserted, state.rows_deleted, state.status) == (2, 1, SyncStatus.SUCCEEDED)


# -- auth ---------------------------------------------------------------------------------------------


def test_expired_session_is_renewed_once_with_the_refresh_token(fake_sf, made_schemas):
    fake_sf.seed({"Account": demo_records()["Account"]})
    tenant = _tenant("sfrenew", fake_sf)
    cred = ConnectorCredential.objects.for_tenant(tenant).get(kind="salesforce")
    credential_set(tenant=tenant, kind="salesforce", config=cred.config,
                   secrets={**cred.secrets(), "access_token": "00Dfake!expired"})
    report = salesforce_sync(tenant=tenant, objects=["Account"], retry_wait=0)
    made_schemas.append(report.schema)
    assert report.ok, report.error
    assert fake_sf.token_requests == 1
    stored = ConnectorCredential.objects.for_tenant(tenant).get(kind="salesforce").secrets()["access_token"]
    assert stored in fake_sf.tokens  # the renewed token is kept (encrypted) for the next run
    fake_sf.expire_tokens()  # expires mid-way: the next run renews again and goes on
    fake_sf.update("Account", "001000000001001", Name="Betasoloin Inc")
    report = salesforce_sync(tenant=tenant, objects=["Account"], retry_wait=0)
    assert report.ok and report.objects[0].upserted == 1 and fake_sf.token_requests == 2


def _failed(tenant, stream: str = "Account") -> SyncState:
    state = SyncState.objects.for_tenant(tenant).get(stream=stream)
    assert state.status == SyncStatus.FAILED
    return state


def test_wrong_credentials_are_a_clear_error_on_the_sync_state(fake_sf, made_schemas):
    fake_sf.seed({"Account": demo_records()["Account"]})
    tenant = _tenant("sfwrong", fake_sf)
    credential_set(tenant=tenant, kind="salesforce",
                   config={"instance_url": fake_sf.instance_url, "login_url": fake_sf.instance_url, "client_id": fake_sf.client_id},
                   secrets={"refresh_token": "not-the-token", "client_secret": fake_sf.client_secret})
    report = salesforce_sync(tenant=tenant, objects=["Account"], retry_wait=0)
    made_schemas.append(f"wh_t{tenant.pk}_sfwrong")
    assert not report.ok
    assert "refused the connector's credentials" in report.error and "invalid_grant" in report.error
    assert "not-the-token" not in report.error and fake_sf.client_secret not in report.error
    assert "invalid_grant" in _failed(tenant).last_error
    connector = ConnectorCredential.objects.for_tenant(tenant).get(kind="salesforce")
    assert "invalid_grant" in connector.last_error and connector.consecutive_failures == 1  # shown on the connector too
    with pytest.raises(CommandError, match="refused the connector's credentials"):
        call_command("salesforce_sync", "--tenant", "sfwrong", "--object", "Account")


def test_unreachable_host(fake_sf, made_schemas):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tenant = _tenant("sfdown", fake_sf, instance_url=f"https://127.0.0.1:{port}", login_url=f"https://127.0.0.1:{port}")
    report = salesforce_sync(tenant=tenant, objects=["Account"], retry_wait=0)
    made_schemas.append(f"wh_t{tenant.pk}_sfdown")
    assert not report.ok and f"cannot reach the Salesforce login host 127.0.0.1:{port}" in report.error
    assert "cannot reach" in _failed(tenant).last_error


@pytest.mark.parametrize(
    "plan, message",
    [
        (["timeout"] * 3, "did not answer the Account query within 0.5 s (3 attempts)"),
        (["malformed"], "not valid JSON"),
        ([429], "API request limit exceeded"),
        (["limit"], "API request limit exceeded (REQUEST_LIMIT_EXCEEDED)"),
        ([503, 503, 503], "HTTP 503 (SERVER_UNAVAILABLE"),
    ],
    ids=["timeout", "malformed", "429", "request-limit", "503"],
)
def test_bad_responses_are_clear_errors(fake_sf, made_schemas, plan, message):
    fake_sf.seed({"Account": demo_records()["Account"]})
    fake_sf.slow_seconds = 1.5
    tenant = _tenant("sfbad", fake_sf, timeout_seconds=0.5)
    fake_sf.plan = list(plan)
    report = salesforce_sync(tenant=tenant, objects=["Account"], retry_wait=0)
    made_schemas.append(report.schema)
    assert not report.ok and message in report.error, report.error
    assert message in _failed(tenant).last_error
    assert message in ConnectorCredential.objects.for_tenant(tenant).get(kind="salesforce").last_error
    assert _count(report.schema, "sf_account") == 0


def test_transient_503_is_retried(fake_sf, made_schemas):
    fake_sf.seed({"Account": demo_records()["Account"]})
    tenant = _tenant("sfretry", fake_sf)
    fake_sf.plan = [503, 503]
    report = salesforce_sync(tenant=tenant, objects=["Account"], retry_wait=0)
    made_schemas.append(report.schema)
    assert report.ok and report.objects[0].upserted == len(_csv("accounts"))
    out = io.StringIO()
    call_command("salesforce_sync", "--tenant", "sfretry", "--object", "Account", "--no-model", stdout=out)
    assert "Account -> sf_account: 1 read, 0 inserted or changed, 0 deleted, 1 batch(es)" in out.getvalue()
    fake_sf.update("Account", "001000000001003", Name="Renamed Co")
    result = salesforce_sync_tenant(tenant.pk)  # the django-q2 task body
    assert result["ok"] and result["objects"]["Account"] == [1, 0] and result["model"] == "published"


def test_failure_mid_object_keeps_committed_batches_and_resumes(fake_sf, made_schemas):
    accounts = demo_records()["Account"]
    fake_sf.seed({"Account": accounts})
    fake_sf.page_size = 20
    tenant = _tenant("sfresume", fake_sf)
    fake_sf.plan = [None, None, 503, 503, 503]  # pages 1 and 2 answer, page 3 fails three times
    report = salesforce_sync(tenant=tenant, objects=["Account"], retry_wait=0)
    made_schemas.append(report.schema)
    assert not report.ok
    state = _failed(tenant)
    assert _count(report.schema, "sf_account") == 40
    ordered = sorted(fake_sf.records["Account"].values(), key=lambda r: r["SystemModstamp"])
    assert state.watermark == dt.datetime.strptime(ordered[39]["SystemModstamp"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert state.rows_upserted == 40
    report = salesforce_sync(tenant=tenant, objects=["Account"], retry_wait=0)
    assert report.ok
    assert _count(report.schema, "sf_account") == len(accounts)
    assert report.objects[0].upserted == len(accounts) - 40  # the row at the watermark is re-read, unchanged


def test_full_sync_removes_rows_salesforce_no_longer_returns(fake_sf, made_schemas):
    fake_sf.seed({"Account": demo_records()["Account"]})
    tenant = _tenant("sffull", fake_sf)
    report = salesforce_sync(tenant=tenant, objects=["Account"], retry_wait=0)
    made_schemas.append(report.schema)
    del fake_sf.records["Account"]["001000000001002"]  # purged from the recycle bin: queryAll no longer sees it
    report = salesforce_sync(tenant=tenant, objects=["Account"], full=True, retry_wait=0)
    assert report.ok and report.objects[0].deleted == 1
    assert _count(report.schema, "sf_account") == len(_csv("accounts")) - 1


def test_external_warehouse_is_refused(fake_sf):
    tenant = _tenant("sfext", fake_sf)
    credential_set(tenant=tenant, kind="warehouse_postgres", config={"host": "db.example.com", "schema": "crm", "user": "reader"},
                   secrets={"password": "pw"})
    report = salesforce_sync(tenant=tenant, objects=["Account"], retry_wait=0)
    assert not report.ok and "external PostgreSQL database (host db.example.com)" in report.error
    assert "external" in _failed(tenant).last_error


# -- the read-only admin ----------------------------------------------------------------------------


@pytest.fixture
def failed_state(world_a):
    return SyncState.objects.for_tenant(world_a.tenant).create(
        tenant=world_a.tenant, source="salesforce", stream="Opportunity", table="sf_opportunity", status=SyncStatus.FAILED,
        rows_upserted=12, last_error="Salesforce at 127.0.0.1:1 refused the Opportunity query: API request limit exceeded",
    )


def test_admin_shows_sync_state_read_only(client, world_a, failed_state):
    client.force_login(world_a.owner)
    page = client.get(reverse("admin:integrations_syncstate_changelist")).content.decode()
    assert "Opportunity" in page and "API request limit exceeded" in page
    detail = client.get(reverse("admin:integrations_syncstate_change", args=[failed_state.pk]))
    assert detail.status_code == 200 and "Save" not in detail.content.decode()
    assert client.post(reverse("admin:integrations_syncstate_change", args=[failed_state.pk]), {"status": "succeeded"}).status_code == 403
    assert client.get(reverse("admin:integrations_syncstate_add")).status_code == 403
    failed_state.refresh_from_db()
    assert failed_state.status == SyncStatus.FAILED


def test_admin_another_tenants_sync_state_is_a_404(client, world_a, world_b, failed_state):
    client.force_login(world_b.owner)
    assert client.get(reverse("admin:integrations_syncstate_change", args=[failed_state.pk])).status_code == 404
    assert "API request limit" not in client.get(reverse("admin:integrations_syncstate_changelist")).content.decode()


def test_jwt_bearer_flow(fake_sf, made_schemas):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fake_sf.jwt_public_key = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    fake_sf.seed({"Account": demo_records()["Account"]})
    tenant = _tenant("sfjwt", fake_sf)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    credential_set(tenant=tenant, kind="salesforce",
                   config={"instance_url": fake_sf.instance_url, "login_url": fake_sf.instance_url, "client_id": fake_sf.client_id,
                           "username": fake_sf.username},
                   secrets={"private_key": pem})
    report = salesforce_sync(tenant=tenant, objects=["Account"], retry_wait=0)
    made_schemas.append(report.schema)
    assert report.ok, report.error
    assert fake_sf.token_requests == 1 and report.objects[0].upserted == len(_csv("accounts"))
    assert ConnectorCredential.objects.for_tenant(tenant).get(kind="salesforce").last_success_at is not None


def test_the_sync_calls_only_urls_the_outbound_guard_allows(fake_sf, made_schemas):
    """The sync applies the SSRF guard of "Test connection": the login URL and instance URL of the
    credential, and an instance URL a token answer names, are checked before any call; a refused
    one is a clear error and nothing is stored."""
    tenant = _tenant("guarded", fake_sf)
    tenant.settings = {**tenant.settings, "actions": {"outbound_allowlist": []}}
    tenant.save(update_fields=["settings"])
    report, _ = salesforce_sync_run(tenant=tenant, retry_wait=0)
    assert not report.ok and "the Salesforce login URL was refused" in report.error, report.error
    assert fake_sf.requests == []

    tenant.settings = {**tenant.settings, "actions": {"outbound_allowlist": ["127.0.0.1/32"]}}
    tenant.save(update_fields=["settings"])
    fake_sf.token_instance_url = "https://10.20.30.40"
    report, _ = salesforce_sync_run(tenant=tenant, retry_wait=0)
    assert not report.ok and "instance URL in the token answer was refused" in report.error, report.error
    assert [p for _, p in fake_sf.requests] == ["/services/oauth2/token"]
    credential = ConnectorCredential.objects.for_tenant(tenant).get(kind="salesforce")
    assert credential.config["instance_url"] == fake_sf.instance_url and "access_token" not in credential.secrets()
