"""A fixture tenant whose warehouse is Firebolt, reached with the real ``firebolt-sdk`` through
the local fake of Firebolt's HTTP API (:mod:`integrations.tests.fake_firebolt`), which runs the
statements on the demo CRM tables (loaded by the import service into schema ``public``), so the
whole evaluation runs through the Firebolt connector.

Fixtures (registered in the root ``conftest.py`` through ``pytest_plugins``):

- ``firebolt_server`` (session): the fake, serving the demo tables, with ``*.localhost`` names
  resolving to loopback for the session (the SDK reaches ``api.localhost`` and ``id.localhost``);
- ``firebolt_demo`` (function): tenant ``demo-firebolt`` (as-of 2025-06-30, offline LLM) with a
  ``warehouse_firebolt`` connector (service-account secrets, account, engine, database, schema
  ``public``, the fake's API endpoint) and the demo KB documents (its semantic model included).
"""

from __future__ import annotations

import pytest

FIREBOLT_SLUG = "demo-firebolt"
FIREBOLT_AS_OF = "2025-06-30"


@pytest.fixture(scope="session")
def firebolt_server():
    """The fake Firebolt API for the test session (see :mod:`integrations.tests.fake_firebolt`)."""
    from integrations.tests.fake_firebolt import fake_firebolt_server

    with fake_firebolt_server() as fake:
        yield fake


@pytest.fixture
def firebolt_demo(db, firebolt_server):
    """Tenant ``demo-firebolt`` over the fake Firebolt, configured like the demo tenant."""
    from agents.demo import demo_documents
    from integrations.models import ConnectorKind
    from integrations.services import credential_set
    from tenants.models import Tenant

    fake = firebolt_server
    fake.fail_next.clear()
    fake.delay_seconds = fake.hang_seconds = 0.0
    tenant, _ = Tenant.objects.update_or_create(
        slug=FIREBOLT_SLUG,
        defaults={"name": "Demo Hardware Co. (Firebolt)", "time_zone": "America/New_York", "settings": {"as_of_date": FIREBOLT_AS_OF, "llm_provider": "offline"}},
    )
    credential_set(
        tenant=tenant,
        kind=ConnectorKind.WAREHOUSE_FIREBOLT,
        config=fake.connector_config(),
        secrets={"client_id": fake.client_id, "client_secret": fake.client_secret},
    )
    demo_documents(tenant)
    return tenant
