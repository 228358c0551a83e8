"""The demo tenant: the CRM sample as its warehouse, the business rules as KB documents, a
warehouse credential and an API key. Idempotent: running it again refreshes everything."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from actions.insights import insights_table_provision

from integrations.models import ConnectorKind
from integrations.services import credential_set
from integrations.warehouse.loader import reader_role_name, warehouse_load_demo
from knowledge.frontmatter import split_front_matter
from knowledge.models import KnowledgeDocument
from knowledge.services import document_save
from tenants.context import tenant_context
from tenants.models import ApiKey, Tenant
from tenants.services import apikey_create

DEMO_SLUG = "demo"
DEMO_SCHEMA = "wh_demo"
DEMO_AS_OF = "2025-06-30"  # inside the CRM sample's date range
DOCS_DIR = Path(settings.BASE_DIR) / "knowledge" / "demo_docs"


@dataclass
class DemoInfo:
    """What the demo set-up created: tenant, its plaintext API key, warehouse row counts per table,
    KB documents."""

    tenant: Tenant
    api_key: str
    tables: dict[str, int]
    documents: int


def demo_documents(tenant: Tenant, docs_dir: Path = DOCS_DIR) -> int:
    """Create or refresh the KB documents shipped in ``knowledge/demo_docs`` (kind and title from
    each file's front matter); unchanged documents keep their version. Returns the count."""
    count = 0
    with tenant_context(tenant):
        for path in sorted(docs_dir.glob("*.md")):
            body = path.read_text()
            params, _ = split_front_matter(body)
            title = params.get("title") or path.stem.replace("_", " ").capitalize()
            existing = KnowledgeDocument.objects.filter(title=title).first()
            if existing is None or existing.body != body or existing.kind != params.get("kind", "other"):
                document_save(tenant=tenant, kind=params.get("kind", "other"), title=title, body=body, document=existing)
            count += 1
    return count


def demo_tenant_configure(*, tenant_slug: str, schema: str, reader_role: str, reader_password: str) -> Tenant:
    """Create or refresh the demo tenant over an already loaded warehouse schema: tenant (as-of
    date pinned to 2025-06-30), warehouse credential (password encrypted) and KB documents."""
    tenant, _ = Tenant.objects.update_or_create(
        slug=tenant_slug,
        defaults={"name": "Demo Hardware Co.", "time_zone": "America/New_York", "settings": {"as_of_date": DEMO_AS_OF, "llm_provider": "offline"}},
    )
    credential_set(
        tenant=tenant,
        kind=ConnectorKind.WAREHOUSE_POSTGRES,
        config={"schema": schema, "user": reader_role, "use_app_database": True},
        secrets={"password": reader_password},
    )
    demo_documents(tenant)
    return tenant


def demo_setup(*, tenant_slug: str = DEMO_SLUG, schema: str = DEMO_SCHEMA) -> DemoInfo:
    """Load the warehouse and configure the demo tenant; returns it with a fresh API key (older
    demo keys revoked). Idempotent."""
    role = reader_role_name(dbname=connection.settings_dict["NAME"], schema=schema)
    password = secrets.token_urlsafe(24)
    tables = warehouse_load_demo(schema=schema, reader_role=role, reader_password=password)
    tenant = demo_tenant_configure(tenant_slug=tenant_slug, schema=schema, reader_role=role, reader_password=password)
    # An insert-only insights table for the execution agent's warehouse_write actions.
    insights_table_provision(tenant=tenant, schema=f"{schema}_insights")
    with transaction.atomic():
        ApiKey.objects.for_tenant(tenant).filter(name="demo", revoked_at__isnull=True).update(revoked_at=timezone.now())
        _, key = apikey_create(tenant=tenant, name="demo")
    return DemoInfo(tenant, key, tables, len(list(DOCS_DIR.glob("*.md"))))
