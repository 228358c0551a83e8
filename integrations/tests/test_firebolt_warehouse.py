"""The Firebolt warehouse connector with the real ``firebolt-sdk`` against the local fake of
Firebolt's HTTP API (``integrations/tests/fake_firebolt.py``): connect, query, guard refusals,
timeouts, wrong credentials, unknown account / database / engine, unreachable host, malformed
answers, 429 / 503, schema description, the tenant selector, the connection test and the admin
form. Expected figures are computed here from the demo CSV files with the standard library.
"""

from __future__ import annotations

import csv
import socket
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from integrations.tests.fake_firebolt import FakeFirebolt, demo_database, fake_firebolt_server
from integrations.warehouse.base import UnsafeSQL, WarehouseQueryError, WarehouseUnavailable
from integrations.warehouse.firebolt_engine import FireboltWarehouse, qmark_statement

CRM = Path(__file__).resolve().parents[1] / "warehouse" / "demo_crm"
TABLES = ("accounts", "products", "sales_teams", "sales_pipeline", "interactions")


def _pipeline() -> list[dict[str, str]]:
    with open(CRM / "sales_pipeline.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def demo_db():
    """One in-memory copy of the demo tables shared by this module's fakes."""
    db = demo_database()
    yield db
    db.close()


@pytest.fixture
def fake(demo_db):
    with fake_firebolt_server(db=demo_db) as server:
        yield server


def _warehouse(fake: FakeFirebolt, **overrides) -> FireboltWarehouse:
    kwargs = dict(
        client_id=fake.client_id, client_secret=fake.client_secret, account_name=fake.account,
        engine_name=fake.engine, database=fake.database, schema="public", api_endpoint=fake.api_endpoint,
        allowed_tables=TABLES, statement_timeout_ms=3000, default_limit=100,
    )
    kwargs.update(overrides)
    return FireboltWarehouse(**kwargs)


# --- connect and query -----------------------------------------------------------------------------


def test_query_answers_the_csv_figures_through_the_sdk(fake):
    rows = _pipeline()
    won = [r for r in rows if r["deal_stage"] == "Won"]
    expected_count = len(won)
    expected_value = sum(Decimal(r["close_value"]) for r in won if r["close_value"])

    wh = _warehouse(fake)
    result = wh.execute(
        "SELECT count(*) AS deals, sum(close_value) AS revenue FROM sales_pipeline WHERE deal_stage = %(stage)s",
        {"stage": "Won"},
    )
    assert result.columns == ["deals", "revenue"]
    assert result.row_count == 1 and not result.truncated
    assert result.rows[0][0] == expected_count
    assert Decimal(str(result.rows[0][1])) == expected_value
    assert "%(stage)s" in result.sql  # the citation is the guard's rendering
    sent = fake.queries()[-1]
    assert "'Won'" in sent and "%(" not in sent and "LIMIT 101" in sent
    # the service account authenticated once, with the client-credentials grant, secret not echoed
    token_calls = [r for r in fake.requests if r["path"] == "/oauth/token"]
    assert len(token_calls) == 1 and '"grant_type": "client_credentials"' in token_calls[0]["body"]
    assert token_calls[0]["host"].startswith("id.localhost:")
    engine_calls = [r for r in fake.requests if r["path"] == "/engine" and r["body"] == sent]
    assert engine_calls[-1]["params"]["statement_timeout"] == "3000"
    assert engine_calls[-1]["params"]["database"] == fake.database and engine_calls[-1]["params"]["engine"] == fake.engine


def test_group_by_and_row_cap(fake):
    per_stage = Counter(r["deal_stage"] for r in _pipeline())
    wh = _warehouse(fake, default_limit=2)
    result = wh.execute("SELECT deal_stage, count(*) AS n FROM sales_pipeline GROUP BY deal_stage ORDER BY n DESC, deal_stage")
    assert result.row_count == 2 and result.truncated
    expected = sorted(per_stage.items(), key=lambda kv: (-kv[1], kv[0]))[:2]
    assert [tuple(r) for r in result.rows] == expected


def test_positional_params_dates_and_percent_escapes(fake):
    import datetime as dt

    rows = _pipeline()
    start = dt.date(2024, 3, 1)
    expected = sum(
        1 for r in rows
        if r["close_date"] and dt.datetime.strptime(r["close_date"], "%m/%d/%Y").date() >= start and r["account"].startswith("A")
    )
    assert expected > 0
    wh = _warehouse(fake)
    result = wh.execute(
        "SELECT count(*) FROM sales_pipeline WHERE close_date >= %s AND account LIKE 'A%%'", [start]
    )
    assert result.rows[0][0] == expected


def test_qmark_statement_rewrites_psycopg_placeholders():
    assert qmark_statement("SELECT 1", None) == ("SELECT 1", None)
    assert qmark_statement("SELECT %(a)s, %(b)s, %(a)s", {"a": 1, "b": "x"}) == ("SELECT ?, ?, ?", [1, "x", 1])
    assert qmark_statement("SELECT %s WHERE x LIKE 'a%%'", [5]) == ("SELECT ? WHERE x LIKE 'a%'", [5])
    with pytest.raises(WarehouseQueryError, match=r"%\(missing\)s"):
        qmark_statement("SELECT %(missing)s", {"other": 1})
    with pytest.raises(WarehouseQueryError, match="2 parameter"):
        qmark_statement("SELECT %s", [1, 2])


# --- guard ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql,message",
    [
        ("DELETE FROM sales_pipeline", "only SELECT"),
        ("SELECT * FROM information_schema.tables", "system catalog"),
        ("SELECT * FROM secrets", "not in the semantic model"),
        ("SELECT version()", "not allowed"),
        ("SELECT 1; SELECT 2", "one statement"),
        ("SELECT * FROM other_schema.accounts", "schema 'other_schema' is not allowed"),
    ],
)
def test_guard_refuses_before_anything_is_sent(fake, sql, message):
    wh = _warehouse(fake)
    with pytest.raises(UnsafeSQL, match=message):
        wh.execute(sql)
    assert fake.requests == []  # refused before connecting


# --- timeouts ------------------------------------------------------------------------------------


def test_statement_timeout_is_enforced_by_the_engine(fake):
    fake.delay_seconds = 5.0
    wh = _warehouse(fake, statement_timeout_ms=300)
    with pytest.raises(WarehouseQueryError, match=r"statement timed out after 300 ms"):
        wh.execute("SELECT count(*) FROM accounts")


def test_client_side_timeout_when_the_engine_does_not_answer(fake, monkeypatch):
    from integrations.warehouse import firebolt_engine

    fake.hang_seconds = 3.0
    monkeypatch.setattr(firebolt_engine, "CLIENT_GRACE_MS", 200)  # a setting of the module, not a function
    wh = _warehouse(fake, statement_timeout_ms=200)
    with pytest.raises(WarehouseQueryError, match=r"statement timed out after 200 ms \(Firebolt did not answer\)"):
        wh.execute("SELECT count(*) FROM accounts")


# --- connection failures -------------------------------------------------------------------------


def test_wrong_credentials_give_a_clear_error_without_the_secret(fake):
    wh = _warehouse(fake, client_secret="wrong-secret-value-123")
    with pytest.raises(WarehouseUnavailable) as info:
        wh.execute("SELECT count(*) FROM accounts")
    message = str(info.value)
    assert "refused the service account credentials" in message and fake.client_id in message
    assert "wrong-secret-value-123" not in message and fake.client_secret not in message
    assert info.value.__cause__ is None


def test_unknown_account_database_and_engine(fake):
    with pytest.raises(WarehouseUnavailable, match="account 'nope' does not exist"):
        _warehouse(fake, account_name="nope").execute("SELECT 1 FROM accounts")
    with pytest.raises(WarehouseUnavailable, match="Database 'other' does not exist"):
        _warehouse(fake, database="other").execute("SELECT 1 FROM accounts")


def test_unknown_engine(demo_db):
    with fake_firebolt_server(db=demo_db) as fake:  # a fresh account: the SDK caches USE DATABASE per account
        with pytest.raises(WarehouseUnavailable, match="Engine 'other' does not exist"):
            _warehouse(fake, engine_name="other").execute("SELECT 1 FROM accounts")


def test_unreachable_host():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    from integrations.tests.fake_firebolt import localhost_names

    with localhost_names():
        wh = FireboltWarehouse(
            client_id="id", client_secret="unreachable-secret", account_name="acct-unreachable", engine_name="e", database="d",
            api_endpoint=f"http://api.localhost:{port}", allowed_tables=TABLES, statement_timeout_ms=1000, default_limit=10,
        )
        with pytest.raises(WarehouseUnavailable) as info:
            wh.execute("SELECT 1 FROM accounts")
    assert "unreachable-secret" not in str(info.value)
    assert "Firebolt" in str(info.value) and ("cannot reach" in str(info.value) or "authentication failed" in str(info.value))


# --- malformed and throttled answers -------------------------------------------------------------


def test_malformed_json_answer(fake):
    wh = _warehouse(fake)
    wh.execute("SELECT 1 FROM accounts LIMIT 1")  # connect once so the failure hits the query
    fake.fail_next.append((200, '{"meta": [{"name": "n", "type": "bigint"}], "data": [[1', "application/json", {}))
    with pytest.raises(WarehouseQueryError, match="malformed response"):
        wh.execute("SELECT count(*) FROM accounts")
    fake.fail_next.append((200, '{"data": []}', "application/json", {}))
    with pytest.raises(WarehouseQueryError, match="malformed response"):
        wh.execute("SELECT count(*) FROM accounts")


def test_server_error_and_query_error(fake):
    wh = _warehouse(fake)
    wh.execute("SELECT 1 FROM accounts LIMIT 1")
    fake.fail_next.append((500, "internal error", "text/plain", {}))
    with pytest.raises(WarehouseQueryError, match="Firebolt failed to run the statement"):
        wh.execute("SELECT count(*) FROM accounts")
    with pytest.raises(WarehouseQueryError, match="Firebolt: .*no_such_column"):
        wh.execute("SELECT no_such_column FROM accounts")


def test_429_is_retried_and_a_storm_is_a_clear_error(fake):
    n_accounts = sum(1 for _ in csv.DictReader(open(CRM / "accounts.csv", newline="")))
    wh = _warehouse(fake)
    wh.execute("SELECT 1 FROM accounts LIMIT 1")
    fake.fail_next.append((429, {"error": "too many requests", "code": 8, "message": "rate limit"}, "application/json", {"Retry-After": "0"}))
    assert wh.execute("SELECT count(*) FROM accounts").rows[0][0] == n_accounts
    for _ in range(5):
        fake.fail_next.append((429, {"error": "too many requests", "code": 8, "message": "rate limit"}, "application/json", {"Retry-After": "0"}))
    with pytest.raises(WarehouseUnavailable, match=r"HTTP 429 \(rate limited"):
        wh.execute("SELECT count(*) FROM accounts")
    fake.fail_next.clear()
    for _ in range(5):
        fake.fail_next.append((503, {"code": 14, "message": "unavailable"}, "application/json", {}))
    with pytest.raises(WarehouseUnavailable, match=r"HTTP 503 \(service unavailable"):
        wh.execute("SELECT count(*) FROM accounts")


# --- schema --------------------------------------------------------------------------------------


def test_describe_schema_and_sampling(fake):
    with open(CRM / "sales_teams.csv", newline="") as f:
        teams = list(csv.DictReader(f))
    offices = Counter(r["regional_office"] for r in teams)
    wh = _warehouse(fake)
    tables = {t["table"]: t for t in wh.describe_schema()}
    assert set(TABLES) <= set(tables)
    assert tables["sales_teams"]["row_count"] == len(teams) and tables["sales_teams"]["row_count_exact"]
    assert [c["name"] for c in tables["sales_teams"]["columns"]] == list(teams[0].keys())
    categories = {c["name"]: c["category"] for c in tables["sales_pipeline"]["columns"]}
    assert categories["close_value"] == "number" and categories["close_date"] == "date" and categories["deal_stage"] == "string"
    sampled = wh.sample_values("sales_teams", "regional_office")
    assert sampled == sorted(offices.items(), key=lambda kv: (-kv[1], kv[0]))
    assert wh.sample_values("sales_pipeline", "opportunity_id", max_values=5) is None
    assert "6 table(s)" in wh.connection_test() or "table(s)" in wh.connection_test()


# --- tenant wiring, connection test, admin form --------------------------------------------------


def test_tenant_selector_connection_check_and_isolation(fake, world_a, world_b):
    from integrations.connector_checks import connector_check
    from integrations.models import ConnectorKind
    from integrations.services import credential_set
    from integrations.warehouse.selectors import warehouse_dialect_for_tenant, warehouse_for_tenant
    from tenants.context import tenant_context

    credential = credential_set(
        tenant=world_a.tenant, kind=ConnectorKind.WAREHOUSE_FIREBOLT, config=fake.connector_config(),
        secrets={"client_id": fake.client_id, "client_secret": fake.client_secret},
    )
    with tenant_context(world_a.tenant):
        assert warehouse_dialect_for_tenant() == "postgres"
        wh = warehouse_for_tenant(allowed_tables=["accounts"])
        assert isinstance(wh, FireboltWarehouse) and fake.client_secret not in repr(wh)
        assert wh.execute("SELECT count(*) FROM accounts").row_count == 1
    with tenant_context(world_b.tenant):
        with pytest.raises(WarehouseUnavailable, match="no warehouse connector"):
            warehouse_for_tenant(allowed_tables=["accounts"])
    result = connector_check(credential=credential)
    assert result.ok, result.message
    assert "SELECT 1" not in result.message and "table(s)" in result.message

    bad = credential_set(
        tenant=world_a.tenant, kind=ConnectorKind.WAREHOUSE_FIREBOLT, name="broken", config=fake.connector_config(),
        secrets={"client_id": fake.client_id, "client_secret": "a-wrong-secret-42"},
    )
    result = connector_check(credential=bad)
    assert not result.ok and "refused the service account credentials" in result.message
    assert "a-wrong-secret-42" not in result.text()

    missing = credential_set(tenant=world_a.tenant, kind=ConnectorKind.WAREHOUSE_FIREBOLT, name="missing", config={"account_name": "x"}, secrets={})
    result = connector_check(credential=missing)
    assert not result.ok and "missing config key 'engine_name'" in result.message


def test_connector_form_validates_firebolt_config():
    from django.core.exceptions import ValidationError

    from integrations.forms import clean_config, spec_get

    spec = spec_get("warehouse_firebolt")
    assert [s.key for s in spec.secrets] == ["client_id", "client_secret"] and all(s.required for s in spec.secrets)
    config = clean_config(spec, {"account_name": "acme", "engine_name": "reader", "database": "crm"})
    assert config == {"account_name": "acme", "engine_name": "reader", "database": "crm"}
    with pytest.raises(ValidationError) as info:
        clean_config(spec, {"account_name": "acme", "database": "crm bad", "api_endpoint": "http://example.com"})
    errors = info.value.message_dict
    assert "engine_name" in errors and "database" in errors
    with pytest.raises(ValidationError) as info:
        clean_config(spec, {"account_name": "acme", "engine_name": "e", "database": "d", "api_endpoint": "http://example.com"})
    assert "https only" in str(info.value.message_dict["api_endpoint"])
    assert clean_config(spec, {"account_name": "a", "engine_name": "e", "database": "d", "api_endpoint": "http://api.localhost:8123"})
