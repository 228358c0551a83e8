"""Fixtures for agent tests: the CRM sample loaded once per session into the test database (a
committed schema, so the warehouse connector's own connection sees it), and a demo tenant per
test configured over it exactly as ``manage.py demo`` does."""

from __future__ import annotations

import csv
import secrets
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection

from agents.demo import demo_tenant_configure
from tenants.services import apikey_create

CRM_DIR = Path(__file__).resolve().parents[2] / "integrations" / "warehouse" / "demo_crm"
SCHEMA = "wh_pytest_demo"


@dataclass
class Warehouse:
    schema: str
    role: str
    password: str


@pytest.fixture(scope="session")
def demo_warehouse(django_db_setup, django_db_blocker) -> Warehouse:
    from integrations.warehouse.loader import reader_role_name, warehouse_drop, warehouse_load_demo

    with django_db_blocker.unblock():
        role = reader_role_name(dbname=connection.settings_dict["NAME"], schema=SCHEMA)
        password = secrets.token_urlsafe(16)
        warehouse_load_demo(schema=SCHEMA, reader_role=role, reader_password=password)
        yield Warehouse(SCHEMA, role, password)
        warehouse_drop(schema=SCHEMA, reader_role=role)


@dataclass
class DemoTenant:
    tenant: object
    api_key: str

    def auth(self) -> dict:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.api_key}"}


@pytest.fixture
def demo(db, demo_warehouse) -> DemoTenant:
    tenant = demo_tenant_configure(
        tenant_slug="demo", schema=demo_warehouse.schema, reader_role=demo_warehouse.role, reader_password=demo_warehouse.password
    )
    _, key = apikey_create(tenant=tenant, name="tests")
    return DemoTenant(tenant, key)


def read_csv(name: str) -> list[dict]:
    """Rows of a CRM sample file, read independently of the product's loader."""
    with open(CRM_DIR / f"{name}.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


from agents.tests.sfdc_shape import sfdc, sfdc_warehouse  # noqa: E402,F401  (the Salesforce-shaped second tenant)
