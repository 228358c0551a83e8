"""A fixture tenant whose semantic model declares a **usage** entity (monthly product usage per
account) and a **contracts** entity (contract end dates), for the customer-health analysis.

Warehouse (schema :data:`USAGE_SCHEMA`): the demo CRM tables (loaded by the demo loader) plus

    usage_monthly (account_id integer, month date [first day], units integer)   -- generated
    contracts     (contract_id text PK, account_id integer, end_date date)     -- generated

and one extra account, :data:`PLG_ACCOUNT` (software, 40 employees), that has usage but no
opportunity: a self-serve (PLG) customer.

The generated rows are deterministic (:func:`usage_rows`, :func:`contract_rows`: ``random.Random``
seeded with :data:`SEED`), so tests recompute expected figures from the same functions.

Fixtures (registered as a pytest plugin in the root ``conftest.py``):

- ``usage_warehouse`` (session): the schema and its read-only reader role, dropped at the end;
- ``usage_tenant`` (function): tenant ``usage`` (as-of 2025-06-30) configured like the demo tenant
  (KB documents, credential) whose semantic model document gains the usage and contracts entities
  (:func:`usage_model_patch`).
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import secrets
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from django.db import connection, transaction
from psycopg import sql as pg_sql

CRM_DIR = Path(__file__).resolve().parents[2] / "integrations" / "warehouse" / "demo_crm"
USAGE_SCHEMA = "wh_pytest_usage"
USAGE_SLUG = "usage"
SEED = 11
MONTHS = [dt.date(2024 + (6 + i) // 12, (6 + i) % 12 + 1, 1) for i in range(12)]  # 2024-07 .. 2025-06
AS_OF = dt.date(2025, 6, 30)
PLG_ACCOUNT = {"account_id": "9001", "account": "Selfserve Labs", "sector": "software", "year_established": "2019",
               "revenue": "4.20", "employees": "40", "office_location": "United States", "subsidiary_of": "", "propensity_to_buy": ""}


def account_rows() -> list[dict[str, str]]:
    """The demo accounts (CSV) plus :data:`PLG_ACCOUNT`."""
    with open(CRM_DIR / "accounts.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh)) + [PLG_ACCOUNT]


def usage_rows() -> list[tuple[int, dt.date, int]]:
    """``(account_id, month, units)`` for every account and each of :data:`MONTHS`: a base level
    200-2,000 units, a monthly growth rate from -12% to +8% and +/-10% noise (seeded)."""
    rng = random.Random(SEED)
    rows = []
    for a in sorted(account_rows(), key=lambda r: int(r["account_id"])):
        base, growth = rng.randint(200, 2000), rng.uniform(-0.12, 0.08)
        for i, month in enumerate(MONTHS):
            rows.append((int(a["account_id"]), month, round(base * (1 + growth) ** i * rng.uniform(0.9, 1.1))))
    return rows


def contract_rows() -> list[tuple[str, int, dt.date]]:
    """``(contract_id, account_id, end_date)``: one contract per demo account (not the PLG
    account), ending between 60 days before and 400 days after :data:`AS_OF` (seeded)."""
    rng = random.Random(SEED + 1)
    rows = []
    for a in sorted(account_rows(), key=lambda r: int(r["account_id"])):
        if a["account_id"] == PLG_ACCOUNT["account_id"]:
            continue
        rows.append((f"C-{a['account_id']}", int(a["account_id"]), AS_OF + dt.timedelta(days=rng.randint(-60, 400))))
    return rows


def usage_warehouse_extend(*, schema: str, reader_role: str) -> None:
    """Add the usage and contracts tables and the PLG account to an already loaded demo schema,
    and grant ``reader_role`` SELECT on the new tables (committed)."""
    s = pg_sql.Identifier(schema)
    with transaction.atomic():
        connection.ensure_connection()
        with connection.connection.cursor() as cur:
            cur.execute(pg_sql.SQL("CREATE TABLE {} (account_id integer NOT NULL, month date NOT NULL, units integer NOT NULL)").format(pg_sql.Identifier(schema, "usage_monthly")))
            cur.execute(pg_sql.SQL("CREATE TABLE {} (contract_id text PRIMARY KEY, account_id integer NOT NULL, end_date date NOT NULL)").format(pg_sql.Identifier(schema, "contracts")))
            with cur.copy(pg_sql.SQL("COPY {} FROM STDIN").format(pg_sql.Identifier(schema, "usage_monthly"))) as cp:
                for row in usage_rows():
                    cp.write_row(row)
            with cur.copy(pg_sql.SQL("COPY {} FROM STDIN").format(pg_sql.Identifier(schema, "contracts"))) as cp:
                for row in contract_rows():
                    cp.write_row(row)
            a = PLG_ACCOUNT
            cur.execute(
                pg_sql.SQL("INSERT INTO {} (account_id, account, sector, year_established, revenue, employees, office_location) VALUES (%s, %s, %s, %s, %s, %s, %s)").format(pg_sql.Identifier(schema, "accounts")),
                [int(a["account_id"]), a["account"], a["sector"], int(a["year_established"]), a["revenue"], int(a["employees"]), a["office_location"]],
            )
            cur.execute(pg_sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(s, pg_sql.Identifier(reader_role)))


def usage_model_patch(params: dict) -> dict:
    """The demo semantic model's front matter plus the usage and contracts entities (names the
    churn document's ``model_names`` expect: metric ``usage`` by ``usage_month``, ``contract_end``)."""
    params = dict(params)
    params["entities"] = {**params["entities"],
                          "usage": {"table": "usage_monthly", "display": "account_id", "label": "usage record"},
                          "contracts": {"table": "contracts", "primary_key": "contract_id", "display": "contract_id", "label": "contract"}}
    params["relationships"] = [*params["relationships"],
                               {"from": "usage", "to": "accounts", "keys": {"account_id": "account_id"}, "cardinality": "many_to_one"},
                               {"from": "contracts", "to": "accounts", "keys": {"account_id": "account_id"}, "cardinality": "many_to_one"}]
    params["dimensions"] = {**params["dimensions"], "usage_units": {"entity": "usage", "column": "units", "type": "number", "label": "usage units", "link_values": False}}
    params["time_dimensions"] = {**params["time_dimensions"],
                                 "usage_month": {"entity": "usage", "column": "month", "label": "usage month"},
                                 "contract_end": {"entity": "contracts", "column": "end_date", "label": "contract end date"}}
    params["measures"] = {**params["measures"], "usage_units_sum": {"entity": "usage", "agg": "sum", "dimension": "usage_units", "time_dimension": "usage_month", "label": "usage units", "unit": "count"}}
    params["metrics"] = {**params["metrics"], "usage": {"measure": "usage_units_sum", "label": "usage units", "synonyms": ["usage", "consumption"], "unit": "count", "description": "sum of monthly usage units"}}
    return params


@dataclass
class UsageWarehouse:
    """The loaded schema and its reader role and password."""

    schema: str
    role: str
    password: str


@pytest.fixture(scope="session")
def usage_warehouse(django_db_setup, django_db_blocker) -> UsageWarehouse:
    """The demo tables plus usage and contracts, loaded once per session (committed)."""
    from integrations.warehouse.loader import reader_role_name, warehouse_drop, warehouse_load_demo

    with django_db_blocker.unblock():
        role = reader_role_name(dbname=connection.settings_dict["NAME"], schema=USAGE_SCHEMA)
        password = secrets.token_urlsafe(16)
        warehouse_load_demo(schema=USAGE_SCHEMA, reader_role=role, reader_password=password)
        usage_warehouse_extend(schema=USAGE_SCHEMA, reader_role=role)
        yield UsageWarehouse(USAGE_SCHEMA, role, password)
        warehouse_drop(schema=USAGE_SCHEMA, reader_role=role)


@pytest.fixture
def usage_tenant(db, usage_warehouse):
    """Tenant ``usage`` over the extended schema; its semantic model declares usage and contracts."""
    from agents.demo import demo_tenant_configure
    from knowledge.frontmatter import split_front_matter
    from knowledge.models import KnowledgeDocument
    from knowledge.services import document_save
    from tenants.context import tenant_context

    tenant = demo_tenant_configure(tenant_slug=USAGE_SLUG, schema=usage_warehouse.schema, reader_role=usage_warehouse.role, reader_password=usage_warehouse.password)
    with tenant_context(tenant):
        doc = next(d for d in KnowledgeDocument.objects.filter(kind="semantic_model") if "rule_set: semantic_model" in d.body)
        params, markdown = split_front_matter(doc.body)
        body = "---\n" + yaml.safe_dump(usage_model_patch(params), sort_keys=False) + "---\n" + markdown
        document_save(tenant=tenant, kind="semantic_model", title=doc.title, body=body, document=doc, status="published")
    return tenant
