"""The SQL guard's function allow list (issue 13, finding 7): metadata and server-state functions
are refused; every function the semantic compiler emits is on the list; properties (hypothesis)
over generated names and arbitrary text. Pure: no database."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import pytest
import sqlglot
from hypothesis import given, settings as hsettings, strategies as st
from sqlglot import exp

from agents.semantic.compiler import compile_query, dimension_values_query
from agents.semantic.query import Filter, OrderBy, SemanticQuery, SemanticQueryError, TimeRange
from integrations.warehouse.base import UnsafeSQL
from integrations.warehouse.guard import ALLOWED_FUNCTIONS, validate_select
from knowledge import semantic_model as semantic_model_module
from knowledge.frontmatter import split_front_matter
from knowledge.semantic_model import SemanticModelSpec, parse_semantic_model

MODEL_DOC = Path(__file__).resolve().parents[2] / "knowledge" / "demo_docs" / "semantic_model.md"
TABLES = ["accounts", "products", "sales_teams", "sales_pipeline", "interactions"]
OPERATORS = (exp.Binary, exp.Connector, exp.Unary)


def check(sql: str) -> str:
    return validate_select(sql, allowed_tables=TABLES, default_limit=100, schema="crm")


def refused(sql: str) -> str:
    with pytest.raises(UnsafeSQL) as info:
        check(sql)
    return str(info.value)


# --- metadata functions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "name"),
    [
        # the ones named in the issue
        ("SELECT pg_table_size('public.tenants_apikey')", "pg_table_size"),
        ("SELECT pg_get_viewdef('some_view')", "pg_get_viewdef"),
        ("SELECT pg_get_functiondef(1)", "pg_get_functiondef"),
        ("SELECT version()", "version"),
        ("SELECT inet_server_addr()", "inet_server_addr"),
        ("SELECT pg_current_xact_id()", "pg_current_xact_id"),
        # spellings and places
        ("SELECT VERSION()", "version"),
        ('SELECT "version"()', "version"),
        ("SELECT account FROM accounts WHERE pg_table_size('accounts') > 0", "pg_table_size"),
        ("SELECT account FROM accounts ORDER BY inet_server_addr()", "inet_server_addr"),
        ("WITH s AS (SELECT pg_get_viewdef('v') AS d) SELECT d FROM s", "pg_get_viewdef"),
        ("SELECT * FROM accounts WHERE EXISTS (SELECT pg_current_xact_id())", "pg_current_xact_id"),
        ("SELECT count(*) FILTER (WHERE version() IS NOT NULL) FROM accounts", "version"),
        ("SELECT coalesce(pg_total_relation_size('accounts'), 0)", "pg_total_relation_size"),
        # their relatives a deny list would have to keep up with
        ("SELECT pg_relation_size('accounts')", "pg_relation_size"),
        ("SELECT pg_database_size('postgres')", "pg_database_size"),
        ("SELECT pg_relation_filepath('accounts')", "pg_relation_filepath"),
        ("SELECT pg_get_userbyid(10)", "pg_get_userbyid"),
        ("SELECT pg_postmaster_start_time()", "pg_postmaster_start_time"),
        ("SELECT pg_backend_pid()", "pg_backend_pid"),
        ("SELECT pg_current_snapshot()", "pg_current_snapshot"),
        ("SELECT pg_xact_status('1')", "pg_xact_status"),
        ("SELECT inet_client_addr()", "inet_client_addr"),
        ("SELECT inet_server_port()", "inet_server_port"),
        ("SELECT txid_current()", "txid_current"),
        ("SELECT to_regclass('tenants_apikey')", "to_regclass"),
        ("SELECT has_table_privilege('tenants_apikey', 'SELECT')", "has_table_privilege"),
        ("SELECT obj_description(1, 'pg_class')", "obj_description"),
        ("SELECT format_type(23, NULL)", "format_type"),
        ("SELECT current_setting('data_directory')", "current_setting"),
        ("SELECT set_config('role', 'postgres', false)", "set_config"),
        ("SELECT current_database()", "current_database"),
        ("SELECT current_user", "current_user"),
        ("SELECT session_user", "session_user"),
        ("SELECT current_schema", "current_schema"),
        ("SELECT current_catalog", "current_catalog"),
        ("SELECT current_role", "current_role"),
        ("SELECT user", "user"),
        ("SELECT pg_sleep(1)", "pg_sleep"),
        ("SELECT nextval('s')", "nextval"),
        ("SELECT random()", "random"),
        ("SELECT * FROM pg_ls_dir('.')", "pg_ls_dir"),
        ("SELECT * FROM json_populate_record(NULL::accounts, '{}')", "json_populate_record"),
    ],
)
def test_metadata_and_state_functions_are_refused(sql: str, name: str) -> None:
    message = refused(sql)
    assert message.startswith(f"function {name}() is not allowed"), message
    assert "ALLOWED_FUNCTIONS" in message  # the message says where the list is


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT pg_catalog.version()",
        "SELECT pg_catalog.pg_table_size('accounts')",
        "SELECT public.pg_get_viewdef('v')",
        "SELECT information_schema._pg_char_max_length(1, 2)",
    ],
)
def test_qualified_metadata_functions_are_refused(sql: str) -> None:
    with pytest.raises(UnsafeSQL, match="not allowed|outside the warehouse schema"):
        check(sql)


@pytest.mark.parametrize("sql", ["SELECT 'tenants_apikey'::regclass", "SELECT CAST('x' AS regproc)", "SELECT 'int4'::regtype"])
def test_casts_that_look_up_the_catalog_are_refused(sql: str) -> None:
    assert "system catalogs" in refused(sql)


def test_quoted_or_qualified_columns_named_like_state_functions_are_columns() -> None:
    assert check('SELECT "user", a.current_role FROM accounts AS a').startswith('SELECT "user", a.current_role')


def test_the_tenants_own_schema_functions_stay_callable() -> None:
    assert check("SELECT crm.fiscal_quarter(close_date) FROM sales_pipeline").startswith("SELECT crm.fiscal_quarter(")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT date_trunc('month', close_date), count(*), sum(close_value), avg(close_value) FROM sales_pipeline GROUP BY 1",
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY close_value) FROM sales_pipeline",
        "SELECT extract(year FROM close_date), to_char(close_date, 'YYYY-MM'), age(close_date, engage_date) FROM sales_pipeline",
        "SELECT lower(account), upper(sector), trim(office_location), length(account), split_part(account, ' ', 1) FROM accounts",
        "SELECT round(revenue::numeric, 2), abs(revenue), ceil(revenue), floor(revenue), greatest(1, 2), least(1, 2) FROM accounts",
        "SELECT CASE WHEN revenue > 100 THEN 'big' ELSE 'small' END, coalesce(subsidiary_of, 'none'), nullif(employees, 0) FROM accounts",
        "SELECT rank() OVER (ORDER BY revenue DESC), row_number() OVER (), lag(revenue) OVER (ORDER BY year_established) FROM accounts",
        "SELECT string_agg(DISTINCT sector, ', '), count(DISTINCT sector), bool_or(revenue > 1), stddev(revenue) FROM accounts",
        "SELECT close_date - engage_date, now(), current_date, make_date(2025, 1, 1), date_part('dow', close_date) FROM sales_pipeline",
        "SELECT concat(account, '-', sector), account || sector, regexp_replace(account, 'a', 'b'), account ~ '^A' FROM accounts",
        "SELECT x FROM generate_series(1, 3) AS g(x)",
    ],
)
def test_analytics_functions_are_accepted(sql: str) -> None:
    assert check(sql).endswith("LIMIT 100")


# --- every function the semantic compiler emits is on the list -----------------------------------


@pytest.fixture(scope="module")
def model() -> SemanticModelSpec:
    params, _ = split_front_matter(MODEL_DOC.read_text(encoding="utf-8"))
    return parse_semantic_model(params)


def _filter_for(model: SemanticModelSpec, name: str) -> list[Filter]:
    spec = model.dimensions[name]
    if spec.type == "number":
        return [Filter(name, (10,), "gt"), Filter(name, (5,), "lte")]
    return [Filter(name, ("a", "b"), "in"), Filter(name, ("x",), "not_in"), Filter(name, ("ab",), "contains")]


def _queries(model: SemanticModelSpec):
    """A broad set of semantic queries over the model: every metric alone, by each dimension, by
    each grain over each time dimension, with each kind of filter, with periods and orders; every
    list query; every dimension's values query."""
    period = TimeRange(dt.date(2025, 1, 1), dt.date(2025, 3, 31), "Q1 2025")
    metrics = list(model.metrics)
    dims = list(model.dimensions)
    for metric in metrics:
        yield SemanticQuery(metrics=(metric,))
        yield SemanticQuery(metrics=(metric,), period=period)
        for dim in dims:
            yield SemanticQuery(metrics=(metric,), group_by=(dim,), order=(OrderBy(metric, True),), limit=5)
        for grain in ("day", "week", "month", "quarter", "year"):
            yield SemanticQuery(metrics=(metric,), grain=grain, period=period)
        for dim in dims:
            for flt in _filter_for(model, dim):
                yield SemanticQuery(metrics=(metric,), filters=(flt,))
    for a, b in itertools.combinations(metrics, 2):
        yield SemanticQuery(metrics=(a, b), group_by=("office",))
    for dim in dims:
        yield SemanticQuery(fields=(dim,), limit=10)
        yield SemanticQuery(fields=(dim, "stage"), filters=tuple(_filter_for(model, dim)[:1]), period=period)


def _called_functions(sql: str) -> dict[str, list[str]]:
    """Function nodes in ``sql`` as the guard parses it: {node type: names}."""
    found: dict[str, list[str]] = {}
    for node in sqlglot.parse_one(sql, read="postgres").walk():
        if isinstance(node, exp.Func) and not isinstance(node, OPERATORS):
            names = [node.name.lower()] if isinstance(node, exp.Anonymous) else [n.lower() for n in type(node).sql_names()]
            found[type(node).__name__] = names
    return found


def test_every_function_the_compiler_emits_is_allowed(model: SemanticModelSpec) -> None:
    statements: list[str] = []
    for query in _queries(model):
        try:
            statements.append(compile_query(model, query).sql)
        except SemanticQueryError:
            continue  # a combination the model refuses (e.g. a dimension on the "many" side)
    statements += [dimension_values_query(model, dim).sql for dim in model.dimensions]
    assert len(statements) > 300

    seen: dict[str, list[str]] = {}
    for sql in statements:
        for node_type, names in _called_functions(sql).items():
            seen[node_type] = names
            assert any(n in ALLOWED_FUNCTIONS for n in names), f"{node_type} {names} in {sql}"
        validate_select(sql, allowed_tables=model.table_names(), default_limit=1000)
    # the test is only as good as its coverage: the compiler's aggregates, ratio and grain all ran
    for expected in ("Count", "Sum", "Avg", "Max", "PercentileCont", "Nullif", "Cast", "TimestampTrunc", "Case"):
        assert expected in seen, sorted(seen)


def test_every_function_a_dimension_sql_may_use_is_allowed() -> None:
    """``sql`` dimensions (knowledge.semantic_model) may use a fixed set of node types; each of
    them that is a function is on the guard's list, so a valid model never compiles to SQL the
    guard refuses."""
    allowed_nodes = semantic_model_module._ALLOWED_SQL_NODES
    functions = [c for c in allowed_nodes if issubclass(c, exp.Func) and not issubclass(c, OPERATORS)]
    assert len(functions) >= 10
    for cls in functions:
        assert any(n.lower() in ALLOWED_FUNCTIONS for n in cls.sql_names()), cls.__name__


# --- properties ---------------------------------------------------------------------------------

_STATE_PREFIXES = ("pg_", "txid_", "inet_", "has_", "lo_", "dblink", "to_reg", "obj_", "col_", "shobj_", "current_s")
names = st.tuples(st.sampled_from(_STATE_PREFIXES), st.from_regex(r"[a-z0-9_]{0,20}", fullmatch=True)).map("".join)
args = st.lists(st.sampled_from(["1", "'accounts'", "NULL", "account_id", "'x'::text"]), max_size=3).map(", ".join)


@hsettings(max_examples=300, deadline=None)
@given(names, args, st.sampled_from(["SELECT {f}", "SELECT account FROM accounts WHERE {f} IS NULL", "SELECT * FROM {f}"]))
def test_catalog_and_server_functions_are_never_accepted(name: str, arguments: str, template: str) -> None:
    with pytest.raises(UnsafeSQL):
        check(template.format(f=f"{name}({arguments})"))


@hsettings(max_examples=300, deadline=None)
@given(st.from_regex(r"[a-z_][a-z0-9_]{0,24}", fullmatch=True))
def test_an_accepted_call_is_an_allow_listed_function(name: str) -> None:
    try:
        out = check(f"SELECT {name}(account_id) FROM accounts")
    except UnsafeSQL:
        return
    for node_type, called in _called_functions(out).items():
        assert any(n in ALLOWED_FUNCTIONS for n in called), (name, node_type, called)


sqlish = st.text(
    alphabet=st.sampled_from(list("SELECTFROMWHERAND selectfromwhere(),;*%'\"=<>.:-_0123456789abcxyz\n")),
    max_size=80,
)


@hsettings(max_examples=300, deadline=None)
@given(sqlish)
def test_the_guard_answers_any_text_with_a_statement_or_unsafe_sql(text: str) -> None:
    try:
        out = check(text)
    except UnsafeSQL:
        return
    assert check(out) == out  # what it accepts, it accepts again unchanged
