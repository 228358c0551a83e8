"""Fixtures for agent tests: the CRM sample loaded once per session into the test database (a
committed schema, so the warehouse connector's own connection sees it), and a demo tenant per
test configured over it exactly as ``manage.py demo`` does."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pytest

from agents.demo import demo_tenant_configure
from tenants.services import apikey_create

# demo_warehouse (the session's demo CRM) is a shared fixture: revops/tests/fixtures/warehouse.py.
CRM_DIR = Path(__file__).resolve().parents[2] / "integrations" / "warehouse" / "demo_crm"


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

