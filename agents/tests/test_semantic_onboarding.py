"""Onboarding a warehouse of another shape: introspection as the reader role, the drafted
semantic model, the draft/check commands, and the Salesforce-shaped tenant onboarded by the
draft plus an editor's edits. Expected figures are computed here from the CSV files."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from agents.semantic.draft import near_duplicate_aliases, reference_aliases, semantic_model_draft
from agents.tests.sfdc_shape import SFDC_MODEL_TITLE
from integrations.models import ConnectorKind
from integrations.services import credential_set
from integrations.warehouse.base import WarehouseQueryError
from integrations.warehouse.selectors import tenant_schema_introspect, warehouse_for_tenant
from knowledge.frontmatter import split_front_matter
from knowledge.models import DocumentStatus, KnowledgeDocument
from knowledge.semantic_model import parse_semantic_model
from tenants.context import tenant_context
from tenants.models import Tenant

CRM_DIR = Path(__file__).resolve().parents[2] / "integrations" / "warehouse" / "demo_crm"


def rows(name: str) -> list[dict]:
    with open(CRM_DIR / f"{name}.csv", newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def bare(db, sfdc_warehouse) -> Tenant:
    """A tenant connected to the Salesforce-shaped schema, with no semantic model yet."""
    tenant = Tenant.objects.create(slug="bare", name="Bare Co.", settings={"as_of_date": "2025-06-30"})
    credential_set(
        tenant=tenant,
        kind=ConnectorKind.WAREHOUSE_POSTGRES,
        config={"schema": sfdc_warehouse.schema, "user": sfdc_warehouse.role, "use_app_database": True},
        secrets={"password": sfdc_warehouse.password},
    )
    return tenant


def _draft(tenant, *args: str) -> str:
    out = io.StringIO()
    call_command("semantic_model_draft", "--tenant", tenant.slug, *args, stdout=out)
    return out.getvalue()


def _doc(tenant, title: str) -> KnowledgeDocument:
    with tenant_context(tenant):
        return KnowledgeDocument.objects.get(title=title)


# -- introspection ---------------------------------------------------------------------------------


def test_introspection_as_reader_finds_keys_counts_and_values(bare, sfdc_warehouse):
    with tenant_context(bare):
        assert warehouse_for_tenant(allowed_tables=()).user == sfdc_warehouse.role
        info = tenant_schema_introspect()
    assert sorted(info.tables) == ["account", "app_user", "opportunity", "product2", "task"]
    assert all(t.primary_key == ("id",) for t in info.tables.values())
    fks = {
        (t.name, fk.columns, fk.ref_table, fk.ref_columns) for t in info.tables.values() for fk in t.foreign_keys
    }
    assert fks == {
        ("opportunity", ("account_id",), "account", ("id",)),
        ("opportunity", ("owner_id",), "app_user", ("id",)),
        ("opportunity", ("product2_id",), "product2", ("id",)),
        ("task", ("account_id",), "account", ("id",)),
    }
    expected_counts = {
        "account": len(rows("accounts")),
        "app_user": len(rows("sales_teams")),
        "product2": len(rows("products")),
        "opportunity": len(rows("sales_pipeline")),
        "task": len(rows("interactions")),
    }
    assert {n: t.row_count for n, t in info.tables.items()} == expected_counts
    assert all(t.row_count_exact for t in info.tables.values())

    opp = info.table("opportunity")
    assert opp.column("amount").category == "number" and opp.column("close_date").category == "date"
    labels = {"Prospecting": "Qualification", "Engaging": "Needs Analysis", "Won": "Closed Won", "Lost": "Closed Lost"}
    stage_counts: dict[str, int] = defaultdict(int)
    for r in rows("sales_pipeline"):
        stage_counts[labels[r["deal_stage"]]] += 1
    assert dict(opp.column("stage_name").samples) == stage_counts
    assert "GTXPro" in opp.column("product_name").values()
    # 85 account names: more than 50 distinct values, so not listed; key columns are not sampled.
    assert info.table("account").column("name").many_values
    assert opp.column("owner_id").sampled is False


def test_sample_values_quotes_identifiers(bare):
    with tenant_context(bare):
        wh = warehouse_for_tenant(allowed_tables=())
    with pytest.raises(WarehouseQueryError, match="does not exist"):
        wh.sample_values('account" ; DROP TABLE account; --', "name")
    assert wh.sample_values("product2", "family", max_values=2) is None  # GTX, MG, GTK: 3 > 2
    families = defaultdict(int)
    for p in rows("products"):
        families[p["series"]] += 1
    assert dict(wh.sample_values("product2", "family")) == families


# -- the draft -------------------------------------------------------------------------------------


def test_near_duplicate_values_become_aliases():
    assert near_duplicate_aliases([("GTX Pro", 30), ("GTXPro", 3), ("GTX Basic", 20), ("GTX Plus Basic", 5)]) == {
        "GTXPro": "GTX Pro"
    }
    assert near_duplicate_aliases([("technology", 9), ("technolgy", 12), ("retail", 3)]) == {"technology": "technolgy"}
    assert near_duplicate_aliases([("Region 10", 4), ("Region 11", 4), ("east", 1), ("East", 7)]) == {"east": "East"}
    aliases, share = reference_aliases(["GTXPro", "GTX Basic", "MG Special"], ["GTX Pro", "GTX Basic", "MG Special", "GTK 500"])
    assert aliases == {"GTXPro": "GTX Pro"} and share == 1.0


def test_draft_validates_with_fk_relationships_alias_and_stages(bare):
    with tenant_context(bare):
        front_matter, markdown, notes = semantic_model_draft(tenant_schema_introspect())
    model = parse_semantic_model(front_matter)
    assert front_matter["rule_set"] == "semantic_model" and front_matter["kind"] == "semantic_model"
    rels = {(r.from_, r.to, tuple(r.keys.items()), r.cardinality) for r in model.relationships}
    assert rels == {
        ("opportunity", "account", (("account_id", "id"),), "many_to_one"),
        ("opportunity", "app_user", (("owner_id", "id"),), "many_to_one"),
        ("opportunity", "product2", (("product2_id", "id"),), "many_to_one"),
        ("task", "account", (("account_id", "id"),), "many_to_one"),
    }
    assert model.entities["account"].display == "name" and model.entities["account"].primary_key == "id"
    # users.name reached from opportunity.owner_id: a dimension named after the table, "owner" a synonym
    owner = model.dimensions["app_user"]
    assert (owner.entity, owner.column) == ("app_user", "name") and "owner" in owner.synonyms
    assert model.dimensions["product_name"].aliases == {"GTXPro": "GTX Pro"}
    assert model.stages.won == ["Closed Won"] and model.stages.lost == ["Closed Lost"]
    assert set(model.stages.open) == {"Qualification", "Needs Analysis"}
    assert model.metrics["win_rate"].numerator == "won_count"
    assert model.measures["won_amount"].dimension == "amount" and model.measures["won_amount"].stage_group == "won"
    assert model.time_dimensions["close_date"].column == "close_date"
    assert {"account_count", "opportunity_count", "task_count", "app_user_count", "product2_count"} <= set(model.measures)
    assert "## What to check" in markdown and "(guess)" in markdown and "`GTXPro` -> `GTX Pro`" in markdown
    assert any("Stages (guess)" in n for n in notes)


# -- the commands ----------------------------------------------------------------------------------


def test_draft_command_saves_a_draft_then_publishes(bare):
    out = _draft(bare)
    assert "opportunity: 8800 rows" in out and "aliases on product_name: GTXPro -> GTX Pro" in out
    doc = _doc(bare, "Warehouse semantic model")
    assert (doc.kind, doc.status, doc.version) == ("semantic_model", DocumentStatus.DRAFT, 1)
    params, _ = split_front_matter(doc.body)
    parse_semantic_model(params)

    _draft(bare, "--publish")
    doc = _doc(bare, "Warehouse semantic model")
    assert (doc.status, doc.version) == (DocumentStatus.PUBLISHED, 2)

    with pytest.raises(CommandError, match="published"):
        _draft(bare)  # would unpublish the model the agents use
    assert _doc(bare, "Warehouse semantic model").status == DocumentStatus.PUBLISHED

    _draft(bare, "--title", "Second draft")
    assert _doc(bare, "Second draft").status == DocumentStatus.DRAFT


def test_draft_never_touches_another_tenants_document(bare, demo):
    with tenant_context(demo.tenant):
        before = {d.pk: (d.title, d.body, d.version, d.status) for d in KnowledgeDocument.objects.all()}
    demo_title = "Warehouse semantic model (CRM sample)"
    assert demo_title in {t for t, *_ in before.values()}
    _draft(bare, "--publish", "--title", demo_title)
    with tenant_context(demo.tenant):
        after = {d.pk: (d.title, d.body, d.version, d.status) for d in KnowledgeDocument.objects.all()}
    assert after == before
    mine = _doc(bare, demo_title)
    assert mine.tenant_id == bare.pk and mine.pk not in before
    assert "wh_pytest_sfdc" in mine.body


def test_check_passes_on_the_demo_with_figures_from_the_csv(demo):
    out = io.StringIO()
    call_command("semantic_model_check", "--tenant", "demo", stdout=out)
    text = out.getvalue()
    pipeline = rows("sales_pipeline")
    won = [r for r in pipeline if r["deal_stage"] == "Won"]
    lost = [r for r in pipeline if r["deal_stage"] == "Lost"]
    assert f"OK   win_rate: {100 * len(won) / (len(won) + len(lost)):,.2f}" in text
    assert f"OK   won_revenue: {sum(int(r['close_value']) for r in won):,}" in text
    assert f"OK   accounts: {len(rows('accounts'))}" in text
    assert "FAIL" not in text and "check(s) passed" in text


def test_check_reports_the_failing_metric(demo):
    from knowledge.services import document_save

    with tenant_context(demo.tenant):
        doc = KnowledgeDocument.objects.get(title="Warehouse semantic model (CRM sample)")
        body = doc.body.replace("    column: close_value\n", "    column: close_valu\n")
        assert body != doc.body
        document_save(tenant=demo.tenant, kind=doc.kind, title=doc.title, body=body, document=doc)
    out = io.StringIO()
    with pytest.raises(CommandError, match="won_revenue"):
        call_command("semantic_model_check", "--tenant", "demo", stdout=out)
    text = out.getvalue()
    assert "FAIL won_revenue:" in text and "close_valu" in text
    assert "OK   win_rate:" in text  # metrics that do not read the amount still pass


def test_check_a_draft_before_publishing_and_by_dimension(bare):
    with pytest.raises(CommandError, match="no semantic model document"):
        call_command("semantic_model_check", "--tenant", "bare", stdout=io.StringIO())
    _draft(bare)
    out = io.StringIO()
    call_command("semantic_model_check", "--tenant", "bare", "--by-dimension", stdout=out)
    assert "'Warehouse semantic model' (version 1, draft)" in out.getvalue()
    assert "FAIL" not in out.getvalue() and "check(s) passed" in out.getvalue()
    with pytest.raises(CommandError, match="no document titled"):
        call_command("semantic_model_check", "--tenant", "bare", "--title", "Nope", stdout=io.StringIO())


# -- the Salesforce-shaped tenant after the editor's edits -----------------------------------------


def _run(tenant, query):
    from agents.semantic.compiler import compile_query

    with tenant_context(tenant):
        doc = KnowledgeDocument.objects.get(title=SFDC_MODEL_TITLE)
        model = parse_semantic_model(split_front_matter(doc.body)[0])
        compiled = compile_query(model, query)
        result = warehouse_for_tenant(allowed_tables=model.table_names()).execute(compiled.sql, compiled.params)
    return [dict(zip(result.columns, r)) for r in result.rows]


def test_sfdc_is_onboarded_by_the_draft_and_the_edits(sfdc):
    doc = _doc(sfdc.tenant, SFDC_MODEL_TITLE)
    assert doc.status == DocumentStatus.PUBLISHED and doc.version == 2  # draft --publish, then the edits
    assert "GTXPro -> GTX Pro" in sfdc.draft_output
    with tenant_context(sfdc.tenant):
        titles = set(KnowledgeDocument.objects.values_list("title", flat=True))
    assert "Deal health score" in titles and "Warehouse semantic model (CRM sample)" not in titles
    model = parse_semantic_model(split_front_matter(doc.body)[0])
    assert {"owner", "manager", "office", "product", "series", "account", "sector", "stage", "amount", "list_price"} <= set(model.dimensions)
    assert {"win_rate", "won_revenue", "average_deal_size", "pipeline_value", "sales_cycle"} <= set(model.metrics)
    assert model.stages.order == ["Qualification", "Needs Analysis", "Closed Won", "Closed Lost"]
    out = io.StringIO()
    call_command("semantic_model_check", "--tenant", "sfdc", stdout=out)
    assert "FAIL" not in out.getvalue()


def test_sfdc_win_rate_by_office_matches_the_csv(sfdc):
    from agents.semantic.query import SemanticQuery

    office_of = {t["sales_agent"]: t["regional_office"] for t in rows("sales_teams")}
    won: dict[str, int] = defaultdict(int)
    closed: dict[str, int] = defaultdict(int)
    for r in rows("sales_pipeline"):
        if r["deal_stage"] in ("Won", "Lost"):
            closed[office_of[r["sales_agent"]]] += 1
            won[office_of[r["sales_agent"]]] += r["deal_stage"] == "Won"
    got = {r["office"]: float(r["win_rate"]) for r in _run(sfdc.tenant, SemanticQuery(metrics=("win_rate",), group_by=("office",)))}
    assert got.keys() == closed.keys()
    for office, n in closed.items():
        assert got[office] == pytest.approx(100 * won[office] / n, abs=1e-6)


def test_sfdc_won_revenue_by_product_matches_the_csv(sfdc):
    from agents.semantic.query import SemanticQuery

    name_of = {p["product_id"]: p["product"] for p in rows("products")}
    expected: dict[str, int] = defaultdict(int)
    for r in rows("sales_pipeline"):
        if r["deal_stage"] == "Won":
            expected[name_of[r["product_id"]]] += int(r["close_value"])
    got = {r["product"]: float(r["won_revenue"]) for r in _run(sfdc.tenant, SemanticQuery(metrics=("won_revenue",), group_by=("product",)))}
    assert "GTX Pro" in got and "GTXPro" not in got
    assert got == pytest.approx(dict(expected))


def test_sfdc_pipeline_value_counts_every_open_deal_at_list_price(sfdc):
    """The product id joins, so the ``GTXPro`` spelling on the opportunity loses no deal."""
    from agents.semantic.query import SemanticQuery

    price = {p["product_id"]: int(p["sales_price"]) for p in rows("products")}
    expected = sum(price[r["product_id"]] for r in rows("sales_pipeline") if r["deal_stage"] in ("Prospecting", "Engaging"))
    [row] = _run(sfdc.tenant, SemanticQuery(metrics=("pipeline_value",)))
    assert float(row["pipeline_value"]) == expected
