"""Shared fixtures: two tenants (each with an owner, an editor, a viewer), an outsider, API keys."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model

from tenants.context import tenant_context
from tenants.models import Membership, Role, Tenant
from tenants.services import apikey_create, tenant_create

# Fixtures shared across apps, registered once (no test module imports another's fixtures).
pytest_plugins = [
    "revops.tests.fixtures.slack",  # slack_a, slack_b
    "revops.tests.fixtures.salesforce",  # servers, salesforce_a
    "revops.tests.fixtures.warehouse",  # demo_warehouse (session)
    "integrations.tests.fake_slack",  # fake_slack
    "agents.tests.fake_openai",  # fake_openai
    "agents.tests.sfdc_shape",  # sfdc, sfdc_warehouse
    "agents.tests.usage_tenant",  # usage_tenant, usage_warehouse
    "agents.tests.duckdb_tenant",  # duckdb_demo, duckdb_warehouse_dir
    "agents.tests.firebolt_tenant",  # firebolt_demo, firebolt_server (fake Firebolt API)
]


@dataclass
class TenantWorld:
    """A test tenant with an owner, editor and viewer, a plain API key and an approver key."""

    tenant: Tenant
    owner: object
    editor: object
    viewer: object
    api_key: str
    approver_key: str

    def auth(self) -> dict:
        """Headers for Django's test client."""
        return {"HTTP_AUTHORIZATION": f"Bearer {self.api_key}"}

    def approver_auth(self) -> dict:
        """Headers with a key that may approve or reject actions."""
        return {"HTTP_AUTHORIZATION": f"Bearer {self.approver_key}"}


def _world(slug: str) -> TenantWorld:
    User = get_user_model()
    tenant = tenant_create(slug=slug, name=slug.title(), time_zone="America/New_York")
    users = {}
    for role in (Role.OWNER, Role.EDITOR, Role.VIEWER):
        user = User.objects.create_user(username=f"{slug}-{role}", password="pw-for-tests-only", is_staff=True)
        Membership.objects.create(user=user, tenant=tenant, role=role)
        users[role] = user
    _, key = apikey_create(tenant=tenant, name="tests")
    _, approver = apikey_create(tenant=tenant, name="approver", can_approve=True)
    return TenantWorld(tenant, users[Role.OWNER], users[Role.EDITOR], users[Role.VIEWER], key, approver)


@pytest.fixture
def world_a(db) -> TenantWorld:
    """Tenant ``acme-a`` with owner, editor, viewer and an API key."""
    return _world("acme-a")


@pytest.fixture
def world_b(db) -> TenantWorld:
    """Tenant ``globex-b``: the outsider tenant for isolation tests."""
    return _world("globex-b")


@pytest.fixture
def in_tenant_a(world_a):
    """Run the test body with tenant A in context."""
    with tenant_context(world_a.tenant):
        yield world_a


@pytest.fixture(autouse=True)
def _warehouse_idle_connections_closed():
    """The warehouse connector keeps idle connections per process; closed after each test so
    that none holds the test database (or a reader role a fixture drops) at teardown."""
    yield
    from integrations.warehouse.postgres import warehouse_connections_close

    warehouse_connections_close()
