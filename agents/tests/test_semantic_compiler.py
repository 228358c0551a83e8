"""The semantic query compiler against the demo warehouse (embedded PostgreSQL).

Every expected figure is computed here from the CRM CSV files with the standard library, never
by the code under test. Compiled statements run as the warehouse reader role through
:class:`integrations.warehouse.postgres.PostgresWarehouse` (guard + read-only transaction +
``search_path``), and every statement also passes ``validate_select`` with no schema qualifier
allowed, as the brief requires.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from agents.semantic.compiler import CompiledQuery, compile_query, dimension_values_query, validate_dimension_sql
from agents.semantic.query import Filter, OrderBy, SemanticQuery, SemanticQueryError, TimeRange
from agents.tests.conftest import read_csv
from integrations.warehouse.guard import validate_select
from integrations.warehouse.postgres import PostgresWarehouse
from integrations.warehouse.selectors import _app_database
from knowledge.frontmatter import split_front_matter
from knowledge.semantic_model import SemanticModelInvalid, SemanticModelSpec, parse_semantic_model

MODEL_DOC = Path(__file__).resolve().parents[2] / "knowledge" / "demo_docs" / "semantic_model.md"


# --- the model and the CSV figures ---------------------------------------------------------------


@pytest.fixture(scope="module")
def model() -> SemanticModelSpec:
    params, _ = split_front_matter(MODEL_DOC.read_text(encoding="utf-8"))
    return parse_semantic_model(params)


def _date(text: str) -> dt.date | None:
    if not text:
        return None
    month, day, year = (int(p) for p in text.split("/"))
    return dt.date(year, month, day)


class Crm:
    """The CSV rows, joined by hand."""

    def __init__(self) -> None:
        self.pipeline = read_csv("sales_pipeline")
        self.teams = {r["sales_agent"]: r for r in read_csv("sales_teams")}
        self.products = {r["product_id"]: r for r in read_csv("products")}
        self.accounts = {r["account_id"]: r for r in read_csv("accounts")}
        for row in self.pipeline:
            row["_close"] = _date(row["close_date"])
            row["_engage"] = _date(row["engage_date"])
            row["_value"] = Decimal(row["close_value"]) if row["close_value"] else None

    def won(self) -> list[dict]:
        return [r for r in self.pipeline if r["deal_stage"] == "Won"]


@pytest.fixture(scope="module")
def crm() -> Crm:
    return Crm()


# --- running a compiled query ------------------------------------------------------------------


@pytest.fixture(scope="module")
def run(demo_warehouse, model):
    """Run a CompiledQuery as the reader role; returns a list of dicts keyed by column name."""
    warehouse = PostgresWarehouse(
        conninfo={**_app_database(), "user": demo_warehouse.role, "password": demo_warehouse.password},
        schema=demo_warehouse.schema,
        allowed_tables=model.table_names(),
        statement_timeout_ms=15_000,
        default_limit=1000,
    )

    def _run(compiled: CompiledQuery, spec: SemanticModelSpec | None = None) -> list[dict]:
        _assert_guarded(compiled, spec or model)
        result = warehouse.execute(compiled.sql, compiled.params)
        assert result.columns == compiled.column_names
        return [dict(zip(result.columns, row)) for row in result.rows]

    return _run


def _assert_guarded(compiled: CompiledQuery, model: SemanticModelSpec) -> None:
    validate_select(compiled.sql, allowed_tables=model.table_names(), default_limit=1001, schema=None)


def close(a, b, tol: float = 1e-6) -> bool:
    return abs(float(a) - float(b)) <= tol * max(1.0, abs(float(b)))


Q1_2025 = TimeRange(dt.date(2025, 1, 1), dt.date(2025, 3, 31), "Q1 2025")


# --- aggregate queries ---------------------------------------------------------------------------


def test_win_rate_by_office(model, crm, run):
    won: dict[str, int] = defaultdict(int)
    closed: dict[str, int] = defaultdict(int)
    for r in crm.pipeline:
        office = crm.teams[r["sales_agent"]]["regional_office"]
        if r["deal_stage"] in ("Won", "Lost"):
            closed[office] += 1
            won[office] += r["deal_stage"] == "Won"
    compiled = compile_query(model, SemanticQuery(metrics=("win_rate",), group_by=("office",)))
    rows = run(compiled)
    assert compiled.base_entity == "opportunities"
    assert compiled.joins == ["opportunities -> sales_teams on sales_agent = sales_agent"]
    assert [c.role for c in compiled.columns] == ["dimension", "metric", "metric_part", "metric_part"]
    got = {r["office"]: r for r in rows}
    assert set(got) == set(closed)
    for office, row in got.items():
        assert row["win_rate__numerator"] == won[office]
        assert row["win_rate__denominator"] == closed[office]
        assert close(row["win_rate"], 100.0 * won[office] / closed[office])
    rates = [float(r["win_rate"]) for r in rows]
    assert rates == sorted(rates, reverse=True)  # default order: first metric, highest first


def test_won_revenue_by_product_joins_products_by_id(model, crm, run):
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for r in crm.won():
        expected[crm.products[r["product_id"]]["product"]] += r["_value"]
    rows = run(compile_query(model, SemanticQuery(metrics=("won_revenue",), group_by=("product",))))
    assert len(expected) == 7 and "GTX Pro" in expected
    assert {r["product"]: r["won_revenue"] for r in rows} == expected


def test_won_revenue_q1_2025_technology_matches_the_misspelt_sector(model, crm, run):
    raw_sectors = {a["sector"] for a in crm.accounts.values()}
    assert "technolgy" in raw_sectors and "technology" not in raw_sectors  # the alias is what matches
    expected = sum(
        (
            r["_value"]
            for r in crm.won()
            if r["account_id"]
            and crm.accounts[r["account_id"]]["sector"] == "technolgy"
            and dt.date(2025, 1, 1) <= r["_close"] <= dt.date(2025, 3, 31)
        ),
        Decimal(0),
    )
    assert expected > 0
    query = SemanticQuery(metrics=("won_revenue",), filters=(Filter("sector", ("technology",)),), period=Q1_2025)
    rows = run(compile_query(model, query))
    assert rows == [{"won_revenue": expected}]
    # The raw spelling is canonicalised too.
    raw = SemanticQuery(metrics=("won_revenue",), filters=(Filter("sector", ("technolgy",)),), period=Q1_2025)
    assert run(compile_query(model, raw)) == [{"won_revenue": expected}]


def test_average_deal_size_by_manager(model, crm, run):
    values: dict[str, list[Decimal]] = defaultdict(list)
    for r in crm.won():
        values[crm.teams[r["sales_agent"]]["manager"]].append(r["_value"])
    rows = run(compile_query(model, SemanticQuery(metrics=("average_deal_size",), group_by=("manager",))))
    got = {r["manager"]: r["average_deal_size"] for r in rows}
    assert set(got) == set(values)
    for manager, vals in values.items():
        assert close(got[manager], sum(vals) / len(vals))


def test_pipeline_value_at_list_price_by_stage(model, crm, run):
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for r in crm.pipeline:
        if r["deal_stage"] in ("Prospecting", "Engaging"):
            expected[r["deal_stage"]] += Decimal(crm.products[r["product_id"]]["sales_price"])
    rows = run(compile_query(model, SemanticQuery(metrics=("pipeline_value",), group_by=("stage",))))
    got = {r["stage"]: r["pipeline_value"] for r in rows}
    assert {k: v for k, v in got.items() if v is not None} == expected
    assert got.get("Won") is None and got.get("Lost") is None  # closed stages are no pipeline
    assert [r["stage"] for r in rows][:2] == sorted(expected, key=expected.get, reverse=True)


def test_top_5_accounts_by_won_revenue(model, crm, run):
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for r in crm.won():
        totals[crm.accounts[r["account_id"]]["account"]] += r["_value"]
    top = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    query = SemanticQuery(metrics=("won_revenue",), group_by=("account",), order=(OrderBy("won_revenue", True),), limit=5)
    rows = run(compile_query(model, query))
    assert [(r["account"], r["won_revenue"]) for r in rows] == top


def test_share_of_revenue_by_series(model, crm, run):
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for r in crm.won():
        totals[crm.products[r["product_id"]]["series"]] += r["_value"]
    grand = sum(totals.values())
    rows = run(compile_query(model, SemanticQuery(metrics=("revenue_share", "won_revenue"), group_by=("series",))))
    assert {r["series"] for r in rows} == set(totals)
    for r in rows:
        assert r["won_revenue"] == totals[r["series"]]
        assert close(r["revenue_share"], 100.0 * float(totals[r["series"]]) / float(grand))
    assert close(sum(float(r["revenue_share"]) for r in rows), 100.0)


def test_monthly_won_revenue_grain(model, crm, run):
    expected: dict[dt.date, Decimal] = defaultdict(Decimal)
    for r in crm.won():
        expected[r["_close"].replace(day=1)] += r["_value"]
    compiled = compile_query(model, SemanticQuery(metrics=("won_revenue",), grain="month"))
    rows = run(compiled)
    assert compiled.columns[0].name == "period" and compiled.columns[0].role == "grain"
    assert [r["period"] for r in rows] == sorted(expected)  # ascending periods
    assert {r["period"]: r["won_revenue"] for r in rows} == expected


def test_monthly_won_revenue_within_a_period_lists_only_its_months(model, crm, run):
    expected: dict[dt.date, Decimal] = defaultdict(Decimal)
    for r in crm.won():
        if dt.date(2025, 1, 1) <= r["_close"] <= dt.date(2025, 3, 31):
            expected[r["_close"].replace(day=1)] += r["_value"]
    rows = run(compile_query(model, SemanticQuery(metrics=("won_revenue",), grain="month", period=Q1_2025)))
    assert {r["period"]: r["won_revenue"] for r in rows} == expected
    assert len(rows) == 3


def test_median_deal_size(model, crm, run):
    expected = statistics.median([r["_value"] for r in crm.won()])
    rows = run(compile_query(model, SemanticQuery(metrics=("median_deal_size",))))
    assert len(rows) == 1 and close(rows[0]["median_deal_size"], expected)


def test_sales_cycle_by_office(model, crm, run):
    days: dict[str, list[int]] = defaultdict(list)
    for r in crm.won():
        days[crm.teams[r["sales_agent"]]["regional_office"]].append((r["_close"] - r["_engage"]).days)
    rows = run(compile_query(model, SemanticQuery(metrics=("sales_cycle",), group_by=("office",))))
    got = {r["office"]: r["sales_cycle"] for r in rows}
    assert set(got) == set(days)
    for office, values in days.items():
        assert close(got[office], sum(values) / len(values))


def test_restricted_measures_share_one_query_and_filters_apply_to_all(model, crm, run):
    """Won count, lost count and win rate for one office and one product in one statement."""
    rows_in = [
        r
        for r in crm.pipeline
        if crm.teams[r["sales_agent"]]["regional_office"] == "Central" and crm.products[r["product_id"]]["product"] == "GTX Pro"
    ]
    won = sum(r["deal_stage"] == "Won" for r in rows_in)
    lost = sum(r["deal_stage"] == "Lost" for r in rows_in)
    query = SemanticQuery(
        metrics=("won_deals", "lost_deals", "win_rate"),
        filters=(Filter("office", ("Central",)), Filter("product", ("GTX Pro",))),
    )
    rows = run(compile_query(model, query))
    assert rows[0]["won_deals"] == won and rows[0]["lost_deals"] == lost
    assert close(rows[0]["win_rate"], 100.0 * won / (won + lost))


def test_numeric_filter_and_not_in(model, crm, run):
    big = [a for a in crm.accounts.values() if int(a["employees"]) >= 5000]
    names = {a["account"] for a in big}
    expected = sum((r["_value"] for r in crm.won() if crm.accounts[r["account_id"]]["account"] in names), Decimal(0))
    rows = run(compile_query(model, SemanticQuery(metrics=("won_revenue",), filters=(Filter("employees", (5000,), "gte"),))))
    assert rows[0]["won_revenue"] == expected
    not_central = sum(
        (r["_value"] for r in crm.won() if crm.teams[r["sales_agent"]]["regional_office"] != "Central"), Decimal(0)
    )
    query = SemanticQuery(metrics=("won_revenue",), filters=(Filter("office", ("Central",), "not_in"),))
    assert run(compile_query(model, query))[0]["won_revenue"] == not_central
    founded = sum(a["year_established"] in ("1996", "2001") for a in crm.accounts.values())
    query = SemanticQuery(metrics=("accounts",), filters=(Filter("year_established", ("1996", 2001)),))
    assert run(compile_query(model, query)) == [{"accounts": founded}]


# --- a second shape: the product name on the opportunity row, spelt GTXPro --------------------------

SMALL_MODEL = {
    "entities": {"deals": {"table": "sales_pipeline", "primary_key": "opportunity_id"}},
    "dimensions": {
        "product": {"entity": "deals", "column": "product", "aliases": {"GTXPro": "GTX Pro"}},
        "stage": {"entity": "deals", "column": "deal_stage"},
        "amount": {"entity": "deals", "column": "close_value", "type": "number"},
        "close_year": {"entity": "deals", "sql": "EXTRACT(YEAR FROM close_date)", "type": "number"},
        "size_band": {
            "entity": "deals",
            "sql": "CASE WHEN close_value >= 1000 THEN 'large' WHEN close_value >= 0 THEN 'small' END",
        },
    },
    "time_dimensions": {"close_date": {"entity": "deals", "column": "close_date"}},
    "measures": {
        "won_revenue": {"entity": "deals", "agg": "sum", "dimension": "amount", "stage_group": "won", "time_dimension": "close_date"},
        "won_products": {"entity": "deals", "agg": "count_distinct", "dimension": "product", "stage_group": "won"},
    },
    "metrics": {
        "won_revenue": {"measure": "won_revenue", "label": "won revenue"},
        "won_products": {"measure": "won_products"},
    },
    "stages": {"dimension": "stage", "open": ["Prospecting", "Engaging"], "won": ["Won"], "lost": ["Lost"]},
}


@pytest.fixture(scope="module")
def small_model() -> SemanticModelSpec:
    return parse_semantic_model(SMALL_MODEL)


def test_aliases_group_and_filter_raw_variants(small_model, crm, run):
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for r in crm.won():
        expected[crm.products[r["product_id"]]["product"]] += r["_value"]  # the products table spells "GTX Pro"
    rows = run(compile_query(small_model, SemanticQuery(metrics=("won_revenue",), group_by=("product",))), small_model)
    assert {r["product"]: r["won_revenue"] for r in rows} == expected
    assert "GTXPro" not in {r["product"] for r in rows}
    filtered = SemanticQuery(metrics=("won_revenue",), filters=(Filter("product", ("GTX Pro",)),))
    assert run(compile_query(small_model, filtered), small_model) == [{"won_revenue": expected["GTX Pro"]}]
    distinct = run(compile_query(small_model, SemanticQuery(metrics=("won_products",))), small_model)
    assert distinct == [{"won_products": 7}]
    values = run(dimension_values_query(small_model, "product"), small_model)
    assert [r["product"] for r in values] == sorted(expected)


def test_sql_dimensions(small_model, crm, run):
    by_year: dict[int, Decimal] = defaultdict(Decimal)
    by_band: dict[str, Decimal] = defaultdict(Decimal)
    for r in crm.won():
        by_year[r["_close"].year] += r["_value"]
        by_band["large" if r["_value"] >= 1000 else "small"] += r["_value"]
    rows = run(compile_query(small_model, SemanticQuery(metrics=("won_revenue",), group_by=("close_year",))), small_model)
    assert {int(r["close_year"]): r["won_revenue"] for r in rows if r["close_year"] is not None} == by_year
    rows = run(compile_query(small_model, SemanticQuery(metrics=("won_revenue",), group_by=("size_band",))), small_model)
    assert {r["size_band"]: r["won_revenue"] for r in rows if r["won_revenue"] is not None} == by_band
    query = SemanticQuery(metrics=("won_revenue",), filters=(Filter("close_year", (2025,), "gte"),))
    assert run(compile_query(small_model, query), small_model) == [{"won_revenue": by_year[2025]}]


# --- detail queries and distinct values ---------------------------------------------------------


def test_detail_opportunities_of_an_account(model, crm, run):
    account_id = next(a["account_id"] for a in crm.accounts.values() if a["account"] == "Acme Corporation")
    expected = {r["opportunity_id"]: r for r in crm.pipeline if r["account_id"] == account_id}
    fields = ("opportunity", "stage", "owner", "product", "list_price", "amount", "engage_date", "close_date", "office")
    compiled = compile_query(
        model,
        SemanticQuery(fields=fields, filters=(Filter("account", ("Acme Corporation",)),), order=(OrderBy("close_date", True),)),
    )
    assert compiled.base_entity == "opportunities"
    assert all(c.role == "field" for c in compiled.columns)
    rows = run(compiled)
    assert {r["opportunity"] for r in rows} == set(expected)
    for row in rows:
        src = expected[row["opportunity"]]
        assert row["stage"] == src["deal_stage"]
        assert row["owner"] == src["sales_agent"]
        assert row["product"] == crm.products[src["product_id"]]["product"]
        assert row["list_price"] == Decimal(crm.products[src["product_id"]]["sales_price"])
        assert row["amount"] == src["_value"]
        assert row["close_date"] == src["_close"]
        assert row["office"] == crm.teams[src["sales_agent"]]["regional_office"]
    dated = [r["close_date"] for r in rows if r["close_date"] is not None]
    assert dated == sorted(dated, reverse=True)


def test_detail_call_notes_of_an_account(model, crm, run):
    notes = [n for n in read_csv("interactions") if n["account_name"] == "Acme Corporation"]
    fields = ("note_contact", "note_type", "note_status", "note_date", "note_text")
    query = SemanticQuery(fields=fields, filters=(Filter("account", ("Acme Corporation",)),), order=(OrderBy("note_date", True),))
    compiled = compile_query(model, query)
    assert compiled.base_entity == "call_notes"
    rows = run(compiled)
    assert len(rows) == len(notes) > 0
    assert sorted(r["note_contact"] for r in rows) == sorted(n["contact_name"] for n in notes)
    assert [r["note_date"] for r in rows] == sorted((_date(n["timestamp"]) for n in notes), reverse=True)


def test_detail_period_needs_a_time_dimension(model, crm, run):
    with pytest.raises(SemanticQueryError, match="time dimension"):
        compile_query(model, SemanticQuery(fields=("opportunity",), period=Q1_2025))
    start, end = dt.date(2025, 3, 1), dt.date(2025, 3, 7)
    period = TimeRange(start, end, "first week of March 2025", time_dimension="close_date")
    rows = run(compile_query(model, SemanticQuery(fields=("opportunity",), period=period)))
    expected = {r["opportunity_id"] for r in crm.pipeline if r["_close"] and start <= r["_close"] <= end}
    assert 0 < len(expected) < 1000
    assert {r["opportunity"] for r in rows} == expected


def test_dimension_values_are_normalised(model, crm, run):
    rows = run(dimension_values_query(model, "sector"))
    raw = {a["sector"] for a in crm.accounts.values()}
    assert [r["sector"] for r in rows] == sorted((raw - {"technolgy"}) | {"technology"})
    offices = run(dimension_values_query(model, "office", limit=2))
    assert [r["office"] for r in offices] == sorted({t["regional_office"] for t in crm.teams.values()})[:2]


# --- refusals -------------------------------------------------------------------------------------


def test_fan_out_is_refused(model):
    with pytest.raises(SemanticQueryError, match="cannot break accounts down by deal stage.*would double count"):
        compile_query(model, SemanticQuery(metrics=("accounts",), group_by=("stage",)))
    with pytest.raises(SemanticQueryError, match="would double count"):
        compile_query(model, SemanticQuery(metrics=("accounts",), filters=(Filter("product", ("GTX Pro",)),)))


def test_no_relationship_is_refused():
    spec = parse_semantic_model(
        {
            "entities": {"a": {"table": "accounts"}, "b": {"table": "products"}},
            "dimensions": {"name": {"entity": "b", "column": "product"}},
            "measures": {"n": {"entity": "a", "agg": "count"}},
            "metrics": {"n": {"measure": "n"}},
        }
    )
    with pytest.raises(SemanticQueryError, match="no relationship from a to b"):
        compile_query(spec, SemanticQuery(metrics=("n",), group_by=("name",)))


ONE_TO_MANY_MODEL = {
    "entities": {"products": {"table": "products"}, "deals": {"table": "sales_pipeline"}},
    "relationships": [{"from": "products", "to": "deals", "keys": {"product_id": "product_id"}, "cardinality": "one_to_many"}],
    "dimensions": {
        "series": {"entity": "products", "column": "series"},
        "deal_stage": {"entity": "deals", "column": "deal_stage"},
    },
    "measures": {"deals": {"entity": "deals", "agg": "count"}, "products": {"entity": "products", "agg": "count"}},
    "metrics": {"deals": {"measure": "deals"}, "products": {"measure": "products"}},
}


def test_one_to_many_is_followed_from_the_many_side(crm, run):
    """A relationship declared one_to_many (products -> deals) is joined from deals to products,
    never from products to deals."""
    spec = parse_semantic_model(ONE_TO_MANY_MODEL)
    expected: dict[str, int] = defaultdict(int)
    for r in crm.pipeline:
        expected[crm.products[r["product_id"]]["series"]] += 1
    compiled = compile_query(spec, SemanticQuery(metrics=("deals",), group_by=("series",)))
    assert compiled.joins == ["deals -> products on product_id = product_id"]
    assert {r["series"]: r["deals"] for r in run(compiled, spec)} == expected
    with pytest.raises(SemanticQueryError, match="would double count"):
        compile_query(spec, SemanticQuery(metrics=("products",), group_by=("deal_stage",)))


def test_snapshot_measure_with_a_period_is_refused(model):
    with pytest.raises(SemanticQueryError, match="snapshot.*does not apply"):
        compile_query(model, SemanticQuery(metrics=("pipeline_value",), period=Q1_2025))
    with pytest.raises(SemanticQueryError, match="snapshot"):
        compile_query(model, SemanticQuery(metrics=("open_deals",), grain="month"))


def test_unknown_names_list_what_exists(model):
    with pytest.raises(SemanticQueryError, match="unknown metric 'campaign_roi'; known: .*win_rate"):
        compile_query(model, SemanticQuery(metrics=("campaign_roi",)))
    with pytest.raises(SemanticQueryError, match="unknown dimension 'campaign'; known: .*office"):
        compile_query(model, SemanticQuery(metrics=("won_revenue",), group_by=("campaign",)))
    with pytest.raises(SemanticQueryError, match="unknown dimension 'campaign'"):
        compile_query(model, SemanticQuery(metrics=("won_revenue",), filters=(Filter("campaign", ("x",)),)))
    with pytest.raises(SemanticQueryError, match="known: .*won_revenue"):
        compile_query(model, SemanticQuery(metrics=("won_revenue",), group_by=("office",), order=(OrderBy("nope"),)))
    with pytest.raises(SemanticQueryError, match="counts call_notes, not opportunities"):
        compile_query(model, SemanticQuery(metrics=("won_revenue",), group_by=("account",), order=(OrderBy("call_notes"),)))
    with pytest.raises(SemanticQueryError, match="not a breakdown"):
        compile_query(model, SemanticQuery(metrics=("won_revenue",), group_by=("office",), order=(OrderBy("product"),)))
    with pytest.raises(SemanticQueryError, match="unknown dimension 'nope'"):
        dimension_values_query(model, "nope")
    with pytest.raises(SemanticQueryError, match="no metric and no field"):
        compile_query(model, SemanticQuery())


def test_metrics_of_different_entities_are_refused(model):
    with pytest.raises(SemanticQueryError, match="count different things.*accounts.*call notes"):
        compile_query(model, SemanticQuery(metrics=("accounts", "call_notes")))


def test_grain_needs_one_time_dimension(model):
    with pytest.raises(SemanticQueryError, match="different time dimensions"):
        compile_query(model, SemanticQuery(metrics=("won_revenue", "opportunities"), grain="month"))


@pytest.mark.parametrize(
    "sql",
    [
        "(SELECT MAX(close_value) FROM sales_pipeline)",
        "close_value + (SELECT 1)",
        "SUM(close_value)",
        "pg_sleep(1)",
        "close_value % 2",
        "other.close_value",
        "close_value; DROP TABLE accounts",
        "ROW_NUMBER() OVER ()",
    ],
)
def test_sql_dimension_outside_the_allow_list_is_refused(sql):
    with pytest.raises(SemanticQueryError, match="sql"):
        validate_dimension_sql(sql)
    # The model document itself is refused on save (the validator runs the same check).
    bad = {**SMALL_MODEL, "dimensions": {**SMALL_MODEL["dimensions"], "bad": {"entity": "deals", "sql": sql}}}
    with pytest.raises(SemanticModelInvalid, match="dimensions.bad.sql"):
        parse_semantic_model(bad)


# --- the guard accepts every statement (no database needed) -------------------------------------

GUARD_CASES = [
    SemanticQuery(metrics=("win_rate",), group_by=("office", "product"), filters=(Filter("sector", ("technology",)),)),
    SemanticQuery(metrics=("won_revenue", "revenue_share", "average_deal_size"), group_by=("series",), period=Q1_2025),
    SemanticQuery(metrics=("median_deal_size", "largest_deal", "sales_cycle"), group_by=("manager",), limit=3),
    SemanticQuery(metrics=("won_revenue",), grain="quarter", period=Q1_2025, order=(OrderBy("won_revenue"),)),
    SemanticQuery(metrics=("pipeline_value", "open_deals"), group_by=("stage",), filters=(Filter("office", ("East",), "not_in"),)),
    SemanticQuery(metrics=("accounts",), group_by=("sector",), filters=(Filter("revenue_musd", ("1000",), "gt"),)),
    SemanticQuery(metrics=("call_notes",), group_by=("account",), period=Q1_2025),
    SemanticQuery(metrics=("won_revenue",), group_by=("office",), order=(OrderBy("win_rate", False),)),
    SemanticQuery(fields=("account", "sector", "employees"), order=(OrderBy("employees"),), limit=10),
    SemanticQuery(fields=("note_contact", "note_text"), filters=(Filter("account", ("Acme Corporation",)),)),
]


@pytest.mark.parametrize("query", GUARD_CASES, ids=lambda q: ",".join(q.metrics or q.fields))
def test_every_statement_passes_the_guard(model, query):
    compiled = compile_query(model, query)
    _assert_guarded(compiled, model)
    assert all(f"%({name})s" in compiled.sql for name in compiled.params)
    assert "%" not in compiled.sql.replace("%(", "").replace(")s", "")


def test_every_dimension_values_query_passes_the_guard(model):
    for name in [*model.dimensions, *model.time_dimensions]:
        _assert_guarded(dimension_values_query(model, name), model)


def test_guard_cases_run(model, run):
    """The guard-only cases also execute (types and placeholders are right)."""
    for query in GUARD_CASES:
        run(compile_query(model, query))


def test_contains_filter_counts_notes_naming_a_phrase_literally(model, run):
    notes = read_csv("interactions")
    expected = sum(1 for n in notes if "aurelia" in n["comment"].lower())
    rows = run(compile_query(model, SemanticQuery(metrics=("call_notes",), filters=(Filter("note_text", ("Aurelia",), "contains"),))))
    assert rows[0]["call_notes"] == expected
    # % and _ are matched literally, not as wildcards.
    literal = sum(1 for n in notes if "100%_" in n["comment"])
    rows = run(compile_query(model, SemanticQuery(metrics=("call_notes",), filters=(Filter("note_text", ("100%_",), "contains"),))))
    assert rows[0]["call_notes"] == literal


def test_a_ranking_leaves_out_groups_without_a_value(model, crm, run):
    """Top accounts by open pipeline: open deals with no account are not ranked as an account."""
    price = {p["product_id"]: float(p["sales_price"]) for p in read_csv("products")}
    name = {a["account_id"]: a["account"] for a in read_csv("accounts")}
    totals: dict[str, float] = defaultdict(float)
    for r in read_csv("sales_pipeline"):
        if r["deal_stage"] in ("Prospecting", "Engaging") and r["account_id"]:
            totals[name[r["account_id"]]] += price[r["product_id"]]
    best = max(totals.items(), key=lambda kv: kv[1])
    rows = run(compile_query(model, SemanticQuery(metrics=("pipeline_value",), group_by=("account",), order=(OrderBy("pipeline_value"),), limit=1)))
    assert rows[0]["account"] == best[0] and close(rows[0]["pipeline_value"], best[1])


def test_share_of_total_is_refused_where_it_would_be_a_share_of_a_filtered_total(model):
    with pytest.raises(SemanticQueryError, match="share"):
        compile_query(model, SemanticQuery(metrics=("revenue_share",), filters=(Filter("office", ("Central",)),)))
    with pytest.raises(SemanticQueryError, match="filtered total"):
        compile_query(model, SemanticQuery(metrics=("revenue_share",), group_by=("office",), filters=(Filter("office", ("Central",)),)))


def test_share_of_total_by_month_adds_up_to_100_in_each_month(model, run):
    rows = run(compile_query(model, SemanticQuery(metrics=("revenue_share",), group_by=("series",), grain="month", period=Q1_2025)))
    by_month: dict = defaultdict(float)
    for r in rows:
        by_month[r["period"]] += float(r["revenue_share"] or 0)
    assert len(by_month) == 3 and all(abs(total - 100.0) < 1e-6 for total in by_month.values())


@pytest.mark.parametrize("value", ["1e999999999", "Infinity", "NaN", float("inf"), "9" * 60])
def test_absurd_numbers_are_refused_quickly(model, value):
    with pytest.raises(SemanticQueryError, match="number"):
        compile_query(model, SemanticQuery(metrics=("won_revenue",), filters=(Filter("amount", (value,), "gt"),)))
