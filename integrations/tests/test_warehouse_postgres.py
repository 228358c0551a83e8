"""The PostgreSQL warehouse against the real (embedded) database.

The demo CRM is loaded once per module into schema ``wh_test`` of the test database, committed
(a separate psycopg connection must see it), and dropped with its reader role at the end (roles
are cluster-wide). Local authentication of the embedded server is ``trust``: a reader connection
is not refused for a wrong password, so the password is checked against the stored SCRAM
verifier instead, and the role's limits are also checked through ``SET ROLE``.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import hmac
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from psycopg import errors as pg_errors

from integrations.services import credential_set
from integrations.warehouse import postgres as postgres_module
from integrations.warehouse.base import (
    UnsafeSQL,
    WarehouseConnector,
    WarehouseError,
    WarehouseQueryError,
    WarehouseResult,
    WarehouseUnavailable,
)
from integrations.warehouse.loader import (
    DEMO_CSV_DIR,
    DEMO_TABLES,
    reader_role_name,
    warehouse_drop,
    warehouse_load_demo,
)
from integrations.warehouse.postgres import PostgresWarehouse
from integrations.warehouse.selectors import _app_database, warehouse_for_tenant
from tenants.context import tenant_context

SCHEMA = "wh_test"
PASSWORD = "Rdr-pw-7c1f9e2a-never-in-messages"
TABLES = sorted(DEMO_TABLES)


@dataclass
class Demo:
    counts: dict[str, int]
    role: str
    location: dict[str, str]

    def conninfo(self, **overrides) -> dict:
        return {**self.location, "user": self.role, "password": PASSWORD, **overrides}

    def warehouse(self, *, timeout_ms: int = 15_000, limit: int = 1000, **conninfo) -> PostgresWarehouse:
        return PostgresWarehouse(
            conninfo=self.conninfo(**conninfo),
            schema=SCHEMA,
            allowed_tables=TABLES,
            statement_timeout_ms=timeout_ms,
            default_limit=limit,
        )

    def connect_as_reader(self) -> psycopg.Connection:
        """A raw connection as the reader role: no guard, no read-only transaction of ours."""
        return psycopg.connect(
            host=self.location["host"] or None,
            port=self.location["port"] or None,
            dbname=self.location["dbname"],
            user=self.role,
            password=PASSWORD,
            autocommit=True,
        )


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker) -> Demo:
    location = _app_database()
    role = reader_role_name(dbname=location["dbname"], schema=SCHEMA)
    with django_db_blocker.unblock():
        counts = warehouse_load_demo(schema=SCHEMA, reader_role=role, reader_password=PASSWORD)
    yield Demo(counts=counts, role=role, location=location)
    with django_db_blocker.unblock():
        warehouse_drop(schema=SCHEMA, reader_role=role)
        with connection.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", [role])
            assert cur.fetchone()[0] == 0


def superuser(demo: Demo) -> psycopg.Connection:
    """A fresh autocommit connection as Django's database user (the embedded superuser)."""
    return psycopg.connect(
        host=demo.location["host"] or None,
        port=demo.location["port"] or None,
        dbname=demo.location["dbname"],
        user=settings.DATABASES["default"]["USER"],
        password=settings.DATABASES["default"].get("PASSWORD") or None,
        autocommit=True,
    )


def csv_rows(table: str) -> list[dict[str, str]]:
    with (DEMO_CSV_DIR / f"{table}.csv").open(newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def scalar(demo: Demo, sql: str, params=None):
    return demo.warehouse().execute(sql, params).rows[0][0]


# --- loading ------------------------------------------------------------------------------------


def test_test_database_is_used(demo: Demo) -> None:
    assert demo.location["dbname"].startswith("test_")
    assert demo.role == reader_role_name(dbname=demo.location["dbname"], schema=SCHEMA)


def test_counts_equal_csv_rows(demo: Demo) -> None:
    expected = {table: len(csv_rows(table)) for table in DEMO_TABLES}
    assert expected["accounts"] == 85
    assert expected["products"] == 7
    assert expected["sales_teams"] == 35
    assert expected["sales_pipeline"] == 8800
    assert expected["interactions"] == 626
    assert demo.counts == expected
    for table, n in expected.items():
        assert scalar(demo, f"SELECT count(*) FROM {table}") == n


def test_quirks_are_preserved(demo: Demo) -> None:
    assert scalar(demo, "SELECT count(*) FROM sales_pipeline WHERE product = 'GTXPro'") == sum(
        1 for row in csv_rows("sales_pipeline") if row["product"] == "GTXPro"
    ) > 0
    assert scalar(demo, "SELECT count(*) FROM products WHERE product = 'GTXPro'") == 0
    assert scalar(demo, "SELECT count(*) FROM products WHERE product = 'GTX Pro'") == 1
    assert scalar(demo, "SELECT count(*) FROM accounts WHERE sector = 'technolgy'") > 0
    assert scalar(demo, "SELECT count(*) FROM accounts WHERE sector = 'technology'") == 0
    assert scalar(demo, "SELECT count(*) FROM sales_pipeline WHERE account_id IS NULL") == 1425
    assert scalar(demo, "SELECT count(*) FROM sales_pipeline WHERE account IS NULL") == 1425
    stages = demo.warehouse().execute(
        "SELECT DISTINCT deal_stage FROM sales_pipeline WHERE account IS NULL ORDER BY 1"
    )
    assert [r[0] for r in stages.rows] == ["Engaging", "Prospecting"]
    # open deals have no close date / value
    assert scalar(
        demo,
        "SELECT count(*) FROM sales_pipeline WHERE deal_stage IN ('Prospecting', 'Engaging') "
        "AND (close_date IS NOT NULL OR close_value IS NOT NULL)",
    ) == 0
    # the trailing space in the data dictionary stays
    assert scalar(demo, "SELECT description FROM data_dictionary WHERE \"table\" = 'sales_pipeline' AND field = 'sales_agent'") == "Sales agent "


def test_types_and_values(demo: Demo) -> None:
    wh = demo.warehouse()
    row = wh.execute(
        "SELECT account_id, engage_date, close_date, close_value FROM sales_pipeline WHERE opportunity_id = %s",
        ["N4SD17JR"],
    ).rows[0]
    assert row == (1000, dt.date(2024, 7, 12), dt.date(2024, 11, 1), Decimal("556"))
    acme = wh.execute(
        "SELECT revenue, propensity_to_buy, year_established, subsidiary_of FROM accounts WHERE account = %(name)s",
        {"name": "Acme Corporation"},
    ).rows[0]
    assert acme == (Decimal("1100.04"), Decimal("0.586206897"), 1996, None)
    first = csv_rows("interactions")[0]
    got = wh.execute('SELECT "timestamp", comment FROM interactions ORDER BY "timestamp", contact_name LIMIT 1')
    assert got.columns == ["timestamp", "comment"]
    assert isinstance(got.rows[0][0], dt.date)
    by_contact = wh.execute(
        'SELECT comment FROM interactions WHERE contact_name = %s AND "timestamp" = %s',
        [first["contact_name"], dt.date(2024, 1, 31)],
    )
    assert first["comment"] in [r[0] for r in by_contact.rows]  # multi-line text kept verbatim


def test_column_types_in_catalog(demo: Demo) -> None:
    with superuser(demo) as conn:  # the catalog, which the guard forbids
        rows = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s ORDER BY table_name, ordinal_position",
            [SCHEMA],
        ).fetchall()
        got = {(t, c): d for t, c, d in rows}
    assert got[("interactions", "timestamp")] == "date"
    assert got[("accounts", "revenue")] == "numeric"
    assert got[("sales_pipeline", "account_id")] == "integer"
    assert got[("data_dictionary", "table")] == "text"
    assert [c for (t, c) in got if t == "interactions"] == [name for name, _ in DEMO_TABLES["interactions"]]


def test_load_is_idempotent_and_reuses_the_role(demo: Demo, django_db_blocker) -> None:
    schema = "wh_test_reload"
    role = reader_role_name(dbname=demo.location["dbname"], schema=schema)
    with django_db_blocker.unblock():
        try:
            first = warehouse_load_demo(schema=schema, reader_role=role, reader_password="first-pw")
            second = warehouse_load_demo(schema=schema, reader_role=role, reader_password="second-pw")
            assert first == second == demo.counts
            with connection.cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", [role])
                assert cur.fetchone()[0] == 1
                cur.execute(f"SELECT count(*) FROM {schema}.sales_pipeline")
                assert cur.fetchone()[0] == 8800
        finally:
            warehouse_drop(schema=schema, reader_role=role)
        with connection.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", [schema])
            assert cur.fetchone()[0] == 0


def test_loader_refuses_bad_identifiers(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="schema"):
        warehouse_load_demo(schema='x"; drop', reader_role="r", reader_password="pw")
    with pytest.raises(ValueError, match="reader_role"):
        warehouse_load_demo(schema="ok", reader_role="Bad-Role", reader_password="pw")
    with pytest.raises(ValueError, match="password"):
        warehouse_load_demo(schema="ok", reader_role="ok", reader_password="")
    with pytest.raises(FileNotFoundError):
        warehouse_load_demo(schema="ok", reader_role="ok", reader_password="pw", csv_dir=tmp_path)


# --- reader role names --------------------------------------------------------------------------


def test_reader_role_name() -> None:
    assert reader_role_name(dbname="revops", schema="crm") == "wh_revops_crm"
    assert reader_role_name(dbname="test_revops", schema="crm") == "wh_test_revops_crm"
    assert reader_role_name(dbname="revops", schema="crm") != reader_role_name(dbname="test_revops", schema="crm")
    odd = reader_role_name(dbname="My-DB", schema="crm")
    assert odd.startswith("wh_my_db_crm_") and len(odd) == len("wh_my_db_crm_") + 8
    assert odd != reader_role_name(dbname="my_db", schema="crm")
    long = reader_role_name(dbname="d" * 60, schema="s" * 60)
    assert len(long) == 63 and long == reader_role_name(dbname="d" * 60, schema="s" * 60)
    assert long != reader_role_name(dbname="d" * 60, schema="s" * 59)
    assert all(ch.isalnum() or ch == "_" for ch in long)


# --- the connector ------------------------------------------------------------------------------


def test_select_through_the_warehouse_adds_limit(demo: Demo) -> None:
    wh = demo.warehouse(limit=50)
    assert isinstance(wh, WarehouseConnector)
    result = wh.execute("SELECT opportunity_id, close_value FROM sales_pipeline ORDER BY opportunity_id")
    assert isinstance(result, WarehouseResult)
    assert result.columns == ["opportunity_id", "close_value"]
    assert result.row_count == len(result.rows) == 50
    assert result.truncated is True
    assert result.sql == "SELECT opportunity_id, close_value FROM sales_pipeline ORDER BY opportunity_id LIMIT 51"
    assert result.duration_ms >= 0


def test_small_results_are_not_truncated(demo: Demo) -> None:
    wh = demo.warehouse(limit=50)
    result = wh.execute("SELECT * FROM products ORDER BY product_id")
    assert (result.row_count, result.truncated) == (7, False)
    # the caller's own LIMIT at the cap is not truncation
    own = wh.execute("SELECT * FROM sales_pipeline LIMIT 50")
    assert (own.row_count, own.truncated) == (50, False)
    # a larger LIMIT is capped, and reported
    big = wh.execute("SELECT * FROM sales_pipeline LIMIT 5000")
    assert (big.row_count, big.truncated) == (50, True)


def test_as_dicts_are_json_friendly(demo: Demo) -> None:
    result = demo.warehouse().execute(
        "SELECT opportunity_id, engage_date, close_value, account FROM sales_pipeline WHERE opportunity_id = %s",
        ["N4SD17JR"],
    )
    assert result.as_dicts() == [
        {"opportunity_id": "N4SD17JR", "engage_date": "2024-07-12", "close_value": 556.0, "account": "Acme Corporation"}
    ]


def test_as_dicts_keeps_repeated_columns() -> None:
    result = WarehouseResult(
        columns=["a", "a", "b"], rows=[(Decimal("1.5"), None, dt.date(2025, 1, 2))], sql="", row_count=1,
        truncated=False, duration_ms=0,
    )
    assert result.as_dicts() == [{"a": 1.5, "a_2": None, "b": "2025-01-02"}]


def test_guard_rendering_runs_on_postgres(demo: Demo) -> None:
    wh = demo.warehouse()
    result = wh.execute(
        "WITH won AS (SELECT account_id, sum(close_value) AS total, count(*) FILTER (WHERE close_value > 1000) AS big "
        "FROM sales_pipeline WHERE deal_stage = %s GROUP BY account_id) "
        "SELECT a.account, w.total, w.big, a.account_id % 2 AS parity, date_trunc('year', now())::date AS y "
        "FROM won w JOIN accounts a USING (account_id) ORDER BY w.total DESC LIMIT %s OFFSET %s",
        ["Won", 3, 1],
    )
    assert result.row_count == 3
    assert "MOD(" in result.sql and "LEAST(%s, 1001)" in result.sql
    union = wh.execute("SELECT product FROM products UNION SELECT DISTINCT product FROM sales_pipeline")
    assert {r[0] for r in union.rows} >= {"GTX Pro", "GTXPro"}


def test_params_and_percent_literals(demo: Demo) -> None:
    wh = demo.warehouse()
    with_params = wh.execute("SELECT count(*) FROM accounts WHERE account LIKE 'A%%' AND sector = %s", ["technolgy"])
    without = wh.execute("SELECT count(*) FROM accounts WHERE account LIKE 'A%' AND sector = 'technolgy'")
    assert with_params.rows == without.rows
    # empty params (what callers pass by default) behave like no params
    assert wh.execute("SELECT count(*) FROM accounts WHERE account LIKE 'A%' AND sector = 'technolgy'", {}).rows == without.rows
    assert wh.execute("SELECT count(*) FROM accounts WHERE account LIKE 'A%%' AND sector = 'technolgy'", []).rows == without.rows


def test_insert_is_refused_by_the_guard(demo: Demo) -> None:
    with pytest.raises(UnsafeSQL, match="only SELECT statements are allowed; got INSERT"):
        demo.warehouse().execute("INSERT INTO accounts (account_id, account) VALUES (1, 'x')")
    assert scalar(demo, "SELECT count(*) FROM accounts") == 85


def test_catalog_is_refused_by_the_guard(demo: Demo) -> None:
    with pytest.raises(UnsafeSQL, match="'pg_authid' is not in the semantic model"):
        demo.warehouse().execute("SELECT rolname, rolpassword FROM pg_authid")


def test_without_the_guard_the_transaction_still_refuses_writes(demo: Demo, monkeypatch) -> None:
    monkeypatch.setattr(postgres_module, "validate_select", lambda sql, **kwargs: sql)
    wh = demo.warehouse()
    with pytest.raises(WarehouseQueryError, match="read-only transaction"):
        wh.execute("INSERT INTO accounts (account_id, account) VALUES (1, 'x')")
    with pytest.raises(WarehouseQueryError, match="multiple commands"):
        wh.execute("SELECT 1; DELETE FROM accounts")
    with pytest.raises(WarehouseQueryError, match="permission denied"):
        wh.execute("SET ROLE postgres")


# --- the reader role, bypassing the guard -------------------------------------------------------


def test_reader_role_cannot_write_even_outside_read_only_transactions(demo: Demo) -> None:
    with demo.connect_as_reader() as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == demo.role
        assert conn.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
        assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.accounts").fetchone()[0] == 85
        # the read-only default is only a default: switch it off and the privileges still refuse
        conn.execute("SET default_transaction_read_only = off")
        for statement in (
            f"INSERT INTO {SCHEMA}.accounts (account_id, account) VALUES (1, 'x')",
            f"UPDATE {SCHEMA}.accounts SET sector = 'x'",
            f"DELETE FROM {SCHEMA}.accounts",
            f"TRUNCATE {SCHEMA}.accounts",
            f"CREATE TABLE {SCHEMA}.sneaky (a int)",
            "CREATE TABLE public.sneaky (a int)",
            "CREATE SCHEMA sneaky",
            f"DROP TABLE {SCHEMA}.accounts",
            "SELECT * FROM public.integrations_connectorcredential",
            "SELECT * FROM public.tenants_tenant",
            "SELECT rolpassword FROM pg_authid",
            "SET ROLE postgres",
        ):
            with pytest.raises(pg_errors.InsufficientPrivilege):
                conn.execute(statement)
    assert scalar(demo, "SELECT count(*) FROM accounts") == 85


def test_reader_role_via_set_role(demo: Demo) -> None:
    # Same proof from a superuser session, in case password auth is not enforced.
    with superuser(demo) as conn:
        conn.execute(f'SET ROLE "{demo.role}"')
        assert conn.execute("SELECT current_user").fetchone()[0] == demo.role
        with pytest.raises(pg_errors.InsufficientPrivilege):
            conn.execute(f"INSERT INTO {SCHEMA}.products (product_id) VALUES (99)")
        with pytest.raises(pg_errors.InsufficientPrivilege):
            conn.execute(f"CREATE TABLE {SCHEMA}.sneaky (a int)")
        assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.products").fetchone()[0] == 7


def test_reader_role_attributes_and_password(demo: Demo) -> None:
    with superuser(demo) as conn:
        cur = conn.cursor()
        cur.execute(
            "SELECT a.rolsuper, a.rolcreatedb, a.rolcreaterole, a.rolcanlogin, a.rolreplication, "
            "a.rolbypassrls, r.rolconfig, a.rolpassword FROM pg_authid a JOIN pg_roles r USING (oid) "
            "WHERE a.rolname = %s",
            [demo.role],
        )
        su, createdb, createrole, login, repl, bypass, config, verifier = cur.fetchone()
        cur.execute(
            "SELECT has_database_privilege(%s, current_database(), 'CONNECT'), "
            "has_schema_privilege(%s, %s, 'USAGE'), has_schema_privilege(%s, %s, 'CREATE'), "
            "has_schema_privilege(%s, 'public', 'CREATE'), "
            "has_table_privilege(%s, %s, 'SELECT'), has_table_privilege(%s, %s, 'INSERT')",
            [demo.role, demo.role, SCHEMA, demo.role, SCHEMA, demo.role,
             demo.role, f"{SCHEMA}.accounts", demo.role, f"{SCHEMA}.accounts"],
        )
        privileges = cur.fetchone()
    assert (su, createdb, createrole, login, repl, bypass) == (False, False, False, True, False, False)
    assert "default_transaction_read_only=on" in config
    assert privileges == (True, True, False, False, True, False)
    # trust auth accepts any password locally, so check the stored SCRAM verifier instead
    assert PASSWORD not in verifier
    assert scram_matches(verifier, PASSWORD)
    assert not scram_matches(verifier, "wrong password")


def scram_matches(verifier: str, password: str) -> bool:
    """RFC 5802 / 7677: StoredKey == H(HMAC(SaltedPassword, "Client Key"))."""
    method, rest = verifier.split("$", 1)
    assert method == "SCRAM-SHA-256"
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key = keys.split(":")[0]
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return hmac.compare_digest(hashlib.sha256(client_key).digest(), base64.b64decode(stored_key))


# --- failures -----------------------------------------------------------------------------------


def assert_no_secret(exc: BaseException, wh: PostgresWarehouse) -> None:
    assert PASSWORD not in str(exc)
    assert PASSWORD not in repr(exc)
    assert PASSWORD not in repr(wh)
    assert exc.__cause__ is None and exc.__context__ is None


def test_statement_timeout(demo: Demo) -> None:
    wh = demo.warehouse(timeout_ms=100)
    started = time.monotonic()
    with pytest.raises(WarehouseQueryError, match="statement timed out after 100 ms") as info:
        wh.execute("SELECT count(*) FROM sales_pipeline a CROSS JOIN sales_pipeline b CROSS JOIN products c")
    assert time.monotonic() - started < 5
    assert_no_secret(info.value, wh)


def test_unreachable_host_is_unavailable_quickly(demo: Demo) -> None:
    wh = demo.warehouse(host="127.0.0.1", port="1")
    started = time.monotonic()
    with pytest.raises(WarehouseUnavailable) as info:
        wh.execute("SELECT 1")
    assert time.monotonic() - started < 6
    message = str(info.value)
    assert "127.0.0.1:1" in message and demo.location["dbname"] in message
    assert_no_secret(info.value, wh)


def test_query_errors_carry_postgres_message_without_secrets(demo: Demo) -> None:
    wh = demo.warehouse()
    with pytest.raises(WarehouseQueryError, match='column "nope" does not exist') as info:
        wh.execute("SELECT nope FROM accounts")
    assert_no_secret(info.value, wh)
    # PostgreSQL echoes bad input values; the password is redacted if it is one of them
    with pytest.raises(WarehouseQueryError) as info:
        wh.execute("SELECT %s::int", [PASSWORD])
    assert "invalid input syntax" in str(info.value) and "********" in str(info.value)
    assert_no_secret(info.value, wh)


def test_wrong_parameter_count_is_a_query_error(demo: Demo) -> None:
    with pytest.raises(WarehouseQueryError):
        demo.warehouse().execute("SELECT * FROM accounts WHERE sector = %s AND account = %s", ["x"])


def test_all_errors_share_a_base() -> None:
    assert issubclass(UnsafeSQL, WarehouseError)
    assert issubclass(WarehouseUnavailable, WarehouseError)
    assert issubclass(WarehouseQueryError, WarehouseError)


# --- per-tenant connector -----------------------------------------------------------------------


def test_warehouse_for_tenant_reads_the_tenant_credential(demo: Demo, world_a, world_b) -> None:
    credential_set(
        tenant=world_a.tenant,
        kind="warehouse_postgres",
        config={"schema": SCHEMA, "user": demo.role, "use_app_database": True},
        secrets={"password": PASSWORD},
    )
    with tenant_context(world_a.tenant):
        wh = warehouse_for_tenant(allowed_tables=["accounts"])
        assert wh.dbname == settings.DATABASES["default"]["NAME"]
        assert wh.statement_timeout_ms == settings.WAREHOUSE_STATEMENT_TIMEOUT_MS
        assert wh.default_limit == settings.WAREHOUSE_DEFAULT_LIMIT
        assert wh.execute("SELECT count(*) FROM accounts").rows == [(85,)]
        with pytest.raises(UnsafeSQL, match="allowed: accounts$"):
            wh.execute("SELECT * FROM products")
        assert PASSWORD not in repr(wh)
    with tenant_context(world_b.tenant):
        with pytest.raises(WarehouseUnavailable, match="no warehouse connector is configured for this tenant"):
            warehouse_for_tenant(allowed_tables=["accounts"])


def test_warehouse_for_tenant_with_explicit_location(demo: Demo, in_tenant_a) -> None:
    credential_set(
        tenant=in_tenant_a.tenant,
        kind="warehouse_postgres",
        config={"schema": SCHEMA, "user": demo.role, **demo.location},
        secrets={"password": PASSWORD},
    )
    wh = warehouse_for_tenant(allowed_tables=TABLES)
    assert wh.execute("SELECT count(*) FROM sales_teams").rows == [(35,)]


@pytest.mark.parametrize(
    ("config", "missing"),
    [({"user": "u", "use_app_database": True}, "schema"), ({"schema": "s", "use_app_database": True}, "user"),
     ({"schema": "s", "user": "u"}, "host")],
)
def test_warehouse_for_tenant_incomplete_config(in_tenant_a, config: dict, missing: str) -> None:
    credential_set(tenant=in_tenant_a.tenant, kind="warehouse_postgres", config=config, secrets={})
    with pytest.raises(WarehouseUnavailable, match=f"missing config key '{missing}'"):
        warehouse_for_tenant(allowed_tables=TABLES)
