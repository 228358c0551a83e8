"""A second fixture tenant whose warehouse has another *shape*: the demo CRM CSVs loaded
Salesforce-style, onboarded only by ``manage.py semantic_model_draft --publish`` plus the editor's
edits in ``agents/tests/data/sfdc_model_edits.yaml``.

Shape (schema :data:`SFDC_SCHEMA`, primary and foreign keys declared)::

    account     (id '001...' PK, name, industry, annual_revenue [USD millions, as in the CSV],
                 number_of_employees, billing_country, parent_name)
    app_user    (id '005...' PK, name, manager_name, region)            -- the sales agents
    product2    (id '01t...' PK, name, family, list_price)
    opportunity (id '006...' PK, account_id -> account, owner_id -> app_user,
                 product2_id -> product2, product_name [as typed: 'GTXPro'],
                 stage_name [Qualification | Needs Analysis | Closed Won | Closed Lost],
                 amount, created_date [engage date], close_date)
    task        (id '00T...' PK, account_id -> account, who_name, type, status,
                 activity_date, description)                           -- call notes

The values are the CSVs' (no cleaning: ``GTXPro``, ``technolgy`` and the opportunities without
an account stay); only names and ids move and the stage labels change (:data:`STAGE_LABELS`).

Edits patch format (:func:`model_patch_apply`)::

    rename:            # applied first; every reference to the old name follows
      entities: {old: new}
      dimensions: {old: new}        # also time_dimensions, measures, metrics
    set:               # then deep-merged into the front matter
      dimensions:
        owner: {synonyms: [agent, rep]}   # mappings merge key by key
        product_name: null                # null deletes the key
      stages: {order: [...]}              # lists and scalars replace

Fixtures (register them in ``agents/tests/conftest.py`` with
``from agents.tests.sfdc_shape import sfdc, sfdc_warehouse  # noqa: E402,F401``):

- ``sfdc_warehouse`` (session): the schema and its read-only reader role, dropped at the end;
- ``sfdc`` (function): tenant ``sfdc`` (as-of 2025-06-30) with the warehouse credential, the demo
  KB documents except ``semantic_model.md``, and its semantic model onboarded as above.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from psycopg import sql as pg_sql

from integrations.warehouse.roles import check_identifier, login_role_upsert

CRM_DIR = Path(__file__).resolve().parents[2] / "integrations" / "warehouse" / "demo_crm"
EDITS_PATH = Path(__file__).resolve().parent / "data" / "sfdc_model_edits.yaml"
SFDC_SCHEMA = "wh_pytest_sfdc"
SFDC_SLUG = "sfdc"
SFDC_AS_OF = "2025-06-30"
SFDC_MODEL_TITLE = "Warehouse semantic model"

# demo deal_stage -> this tenant's stage_name
STAGE_LABELS = {"Prospecting": "Qualification", "Engaging": "Needs Analysis", "Won": "Closed Won", "Lost": "Closed Lost"}

SFDC_TABLES: dict[str, str] = {
    "account": """id text PRIMARY KEY, name text NOT NULL, industry text, annual_revenue numeric,
                  number_of_employees integer, billing_country text, parent_name text""",
    "app_user": "id text PRIMARY KEY, name text NOT NULL, manager_name text, region text",
    "product2": "id text PRIMARY KEY, name text NOT NULL, family text, list_price numeric",
    "opportunity": """id text PRIMARY KEY,
                      account_id text REFERENCES {schema}.account (id),
                      owner_id text NOT NULL REFERENCES {schema}.app_user (id),
                      product2_id text REFERENCES {schema}.product2 (id),
                      product_name text, stage_name text NOT NULL, amount numeric,
                      created_date date, close_date date""",
    "task": """id text PRIMARY KEY, account_id text REFERENCES {schema}.account (id), who_name text,
               type text, status text, activity_date date, description text""",
}

_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def _read(name: str, csv_dir: Path) -> list[dict[str, str]]:
    with open(csv_dir / f"{name}.csv", newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def _date(value: str) -> dt.date | None:
    if not value:
        return None
    m = _US_DATE.match(value)
    if not m:
        raise ValueError(f"expected a M/D/YYYY date, got {value!r}")
    month, day, year = (int(g) for g in m.groups())
    return dt.date(year, month, day)


def _none(value: str) -> str | None:
    return value if value != "" else None


def account_sfid(account_id: str) -> str:
    """Salesforce-style id of a demo account id (``1000`` -> ``001000000001000``)."""
    return f"001{int(account_id):012d}"


def user_sfid(sales_person_id: str) -> str:
    """Salesforce-style id of a demo sales person id."""
    return f"005{int(sales_person_id):012d}"


def product_sfid(product_id: str) -> str:
    """Salesforce-style id of a demo product id."""
    return f"01t{int(product_id):012d}"


def sfdc_rows(csv_dir: Path = CRM_DIR) -> dict[str, list[tuple]]:
    """The rows of every :data:`SFDC_TABLES` table, built from the demo CSVs (column order as in
    the DDL). Raises KeyError when a pipeline row names an agent missing from sales_teams."""
    accounts = _read("accounts", csv_dir)
    teams = _read("sales_teams", csv_dir)
    products = _read("products", csv_dir)
    pipeline = _read("sales_pipeline", csv_dir)
    notes = _read("interactions", csv_dir)
    user_by_agent = {t["sales_agent"]: user_sfid(t["sales_person_id"]) for t in teams}
    return {
        "account": [
            (
                account_sfid(a["account_id"]), a["account"], _none(a["sector"]), _none(a["revenue"]),
                _none(a["employees"]), _none(a["office_location"]), _none(a["subsidiary_of"]),
            )
            for a in accounts
        ],
        "app_user": [
            (user_sfid(t["sales_person_id"]), t["sales_agent"], _none(t["manager"]), _none(t["regional_office"]))
            for t in teams
        ],
        "product2": [
            (product_sfid(p["product_id"]), p["product"], _none(p["series"]), _none(p["sales_price"])) for p in products
        ],
        "opportunity": [
            (
                f"0060000{o['opportunity_id']}",
                account_sfid(o["account_id"]) if o["account_id"] else None,
                user_by_agent[o["sales_agent"]],
                product_sfid(o["product_id"]) if o["product_id"] else None,
                _none(o["product"]),
                STAGE_LABELS[o["deal_stage"]],
                _none(o["close_value"]),
                _date(o["engage_date"]),
                _date(o["close_date"]),
            )
            for o in pipeline
        ],
        "task": [
            (
                f"00T{i:012d}",
                account_sfid(n["account_id"]) if n["account_id"] else None,
                _none(n["contact_name"]), _none(n["activity_type"]), _none(n["status"]),
                _date(n["timestamp"]), _none(n["comment"]),
            )
            for i, n in enumerate(notes, start=1)
        ],
    }


def sfdc_warehouse_load(*, schema: str, reader_role: str, reader_password: str, csv_dir: Path = CRM_DIR) -> dict[str, int]:
    """(Re)create ``schema`` with the Salesforce-shaped tables and grant ``reader_role`` read
    access, as :func:`integrations.warehouse.loader.warehouse_load_demo` does for the demo (same
    role helpers: LOGIN, no other attributes, read-only default transactions, CONNECT, USAGE,
    SELECT). Committed in one transaction on Django's default connection. Returns rows per table.
    """
    check_identifier(schema, "schema")
    check_identifier(reader_role, "reader_role")
    rows = sfdc_rows(csv_dir)
    schema_id, role_id = pg_sql.Identifier(schema), pg_sql.Identifier(reader_role)
    with transaction.atomic():
        connection.ensure_connection()
        raw = connection.connection
        with raw.cursor() as cur:
            cur.execute(pg_sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema_id))
            cur.execute(pg_sql.SQL("CREATE SCHEMA {}").format(schema_id))
            for table, ddl in SFDC_TABLES.items():
                # The DDL above is fixed text; only the schema name (checked identifier) goes in.
                cur.execute(
                    pg_sql.SQL("CREATE TABLE {} (" + ddl.replace("{schema}", "{s}") + ")").format(
                        pg_sql.Identifier(schema, table), s=schema_id
                    )
                )
                with cur.copy(pg_sql.SQL("COPY {} FROM STDIN").format(pg_sql.Identifier(schema, table))) as cp:
                    for row in rows[table]:
                        cp.write_row(row)
            cur.execute(pg_sql.SQL("ANALYZE {}").format(pg_sql.Identifier(schema, "opportunity")))
            login_role_upsert(raw, cur, role=reader_role, password=reader_password)
            cur.execute(pg_sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(role_id))
            cur.execute(pg_sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema_id, role_id))
            cur.execute(pg_sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(schema_id, role_id))
    return {table: len(r) for table, r in rows.items()}


# -- the edits patch ---------------------------------------------------------------------------

_RENAMABLE = ("entities", "dimensions", "time_dimensions", "measures", "metrics")


def _rename_keys(table: dict, mapping: dict[str, str]) -> dict:
    return {mapping.get(k, k): v for k, v in table.items()}


def _renamed_references(fm: dict, kind: str, old: str, new: str) -> None:
    """Point every reference to ``kind`` ``old`` at ``new`` (v2 model shape)."""
    if kind == "entities":
        for rel in fm.get("relationships") or []:
            for key in ("from", "to"):
                if rel.get(key) == old:
                    rel[key] = new
        for section in ("dimensions", "time_dimensions", "measures"):
            for spec in (fm.get(section) or {}).values():
                if spec.get("entity") == old:
                    spec["entity"] = new
    elif kind == "dimensions":
        for spec in (fm.get("measures") or {}).values():
            if spec.get("dimension") == old:
                spec["dimension"] = new
            if old in (spec.get("filters") or {}):
                spec["filters"] = _rename_keys(spec["filters"], {old: new})
        if (fm.get("stages") or {}).get("dimension") == old:
            fm["stages"]["dimension"] = new
    elif kind == "time_dimensions":
        for spec in (fm.get("measures") or {}).values():
            if spec.get("time_dimension") == old:
                spec["time_dimension"] = new
    elif kind == "measures":
        for spec in (fm.get("metrics") or {}).values():
            for key in ("measure", "numerator", "denominator"):
                if spec.get(key) == old:
                    spec[key] = new


def deep_merge(base: Any, patch: Any) -> Any:
    """``patch`` merged into ``base`` (a new value): mappings merge key by key, a ``None`` value
    deletes the key, anything else (lists, scalars) replaces."""
    if not isinstance(base, dict) or not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def model_patch_apply(front_matter: dict, patch: dict) -> dict:
    """Apply an edits ``patch`` (``{rename: {...}, set: {...}}``, see the module docstring) to a
    semantic model's front matter; returns a new dict.

    Raises:
        KeyError: ``rename`` names something the model lacks, or a new name already exists
            (a patch written against another draft fails loudly instead of doing half its work).
        ValueError: a ``patch`` key other than ``rename`` / ``set``.
    """
    unknown = set(patch) - {"rename", "set"}
    if unknown:
        raise ValueError(f"unknown patch keys {sorted(unknown)}; use 'rename' and 'set'")
    fm = copy.deepcopy(front_matter)
    for kind, mapping in (patch.get("rename") or {}).items():
        if kind not in _RENAMABLE:
            raise ValueError(f"rename.{kind}: only {', '.join(_RENAMABLE)} can be renamed")
        table = fm.get(kind) or {}
        for old, new in mapping.items():
            if old not in table:
                raise KeyError(f"rename.{kind}.{old}: the draft has no such {kind[:-1]}; it has {sorted(table)}")
            if new in table and new != old:
                raise KeyError(f"rename.{kind}.{old}: {new!r} already exists")
        fm[kind] = _rename_keys(table, mapping)
        for old, new in mapping.items():
            _renamed_references(fm, kind, old, new)
    return deep_merge(fm, patch.get("set") or {})


# -- the tenant ---------------------------------------------------------------------------------


@dataclass
class SfdcWarehouse:
    """The loaded schema, its reader role and password, and the rows per table."""

    schema: str
    role: str
    password: str
    tables: dict[str, int]


@dataclass
class SfdcTenant:
    """The onboarded tenant, its API key, and the draft command's printed output."""

    tenant: object
    api_key: str
    draft_output: str

    def auth(self) -> dict:
        """Headers for the REST API."""
        return {"HTTP_AUTHORIZATION": f"Bearer {self.api_key}"}


def sfdc_documents(tenant) -> int:
    """Save the demo KB documents except ``semantic_model.md`` for ``tenant``; returns the count."""
    from knowledge.frontmatter import split_front_matter
    from knowledge.services import document_save
    from tenants.context import tenant_context

    count = 0
    with tenant_context(tenant):
        for path in sorted((Path(settings.BASE_DIR) / "knowledge" / "demo_docs").glob("*.md")):
            if path.name == "semantic_model.md":
                continue
            body = path.read_text()
            params, _ = split_front_matter(body)
            title = params.get("title") or path.stem.replace("_", " ").capitalize()
            document_save(tenant=tenant, kind=params.get("kind", "other"), title=title, body=body)
            count += 1
    return count


def sfdc_model_edit(tenant, *, edits_path: Path = EDITS_PATH, title: str = SFDC_MODEL_TITLE):
    """Apply the editor's patch to the tenant's drafted semantic model document (a new version,
    status kept). Returns the saved document. Raises SemanticModelInvalid when the result does
    not validate, KeyError / ValueError from :func:`model_patch_apply`."""
    from knowledge.frontmatter import split_front_matter
    from knowledge.models import KnowledgeDocument
    from knowledge.semantic_model import parse_semantic_model
    from knowledge.services import document_save
    from agents.semantic.draft import semantic_model_document
    from tenants.context import tenant_context

    patch = yaml.safe_load(edits_path.read_text()) or {}
    with tenant_context(tenant):
        doc = KnowledgeDocument.objects.get(title=title)
        params, markdown = split_front_matter(doc.body)
        edited = model_patch_apply(params, patch)
        parse_semantic_model(edited)
        markdown = markdown.rstrip("\n") + f"\n\n## Edits\n\nApplied by the tests from `{edits_path.name}`.\n"
        return document_save(
            tenant=tenant, kind=doc.kind, title=doc.title, body=semantic_model_document(edited, markdown),
            document=doc, note="editor's edits",
        )


def sfdc_tenant_onboard(*, schema: str, reader_role: str, reader_password: str, slug: str = SFDC_SLUG):
    """Create tenant ``slug`` over the loaded schema and onboard it: credential, KB documents,
    ``semantic_model_draft --publish``, then the edits. Returns ``(tenant, draft command output)``."""
    from integrations.models import ConnectorKind
    from integrations.services import credential_set
    from tenants.models import Tenant

    tenant, _ = Tenant.objects.update_or_create(
        slug=slug,
        defaults={"name": "Salesforce-shaped Co.", "time_zone": "America/New_York",
                  "settings": {"as_of_date": SFDC_AS_OF, "llm_provider": "offline"}},
    )
    credential_set(
        tenant=tenant,
        kind=ConnectorKind.WAREHOUSE_POSTGRES,
        config={"schema": schema, "user": reader_role, "use_app_database": True},
        secrets={"password": reader_password},
    )
    sfdc_documents(tenant)
    out = io.StringIO()
    call_command("semantic_model_draft", "--tenant", slug, "--publish", "--title", SFDC_MODEL_TITLE, stdout=out)
    sfdc_model_edit(tenant)
    return tenant, out.getvalue()


@pytest.fixture(scope="session")
def sfdc_warehouse(django_db_setup, django_db_blocker) -> SfdcWarehouse:
    """The Salesforce-shaped schema, loaded once per test session (committed, so the reader
    role's own connections see it); dropped with its role at the end."""
    from integrations.warehouse.loader import reader_role_name, warehouse_drop

    with django_db_blocker.unblock():
        role = reader_role_name(dbname=connection.settings_dict["NAME"], schema=SFDC_SCHEMA)
        password = secrets.token_urlsafe(16)
        tables = sfdc_warehouse_load(schema=SFDC_SCHEMA, reader_role=role, reader_password=password)
        yield SfdcWarehouse(SFDC_SCHEMA, role, password, tables)
        warehouse_drop(schema=SFDC_SCHEMA, reader_role=role)


@pytest.fixture
def sfdc(db, sfdc_warehouse) -> SfdcTenant:
    """Tenant ``sfdc`` onboarded by ``semantic_model_draft --publish`` plus the edits."""
    from tenants.services import apikey_create

    tenant, output = sfdc_tenant_onboard(
        schema=sfdc_warehouse.schema, reader_role=sfdc_warehouse.role, reader_password=sfdc_warehouse.password
    )
    _, key = apikey_create(tenant=tenant, name="tests")
    return SfdcTenant(tenant, key, output)
