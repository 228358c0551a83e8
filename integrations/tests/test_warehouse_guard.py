"""The SQL guard, pure: no database. Each refusal names the rule that fired."""

from __future__ import annotations

import re

import pytest

from integrations.warehouse.base import UnsafeSQL
from integrations.warehouse.guard import validate_select

TABLES = ["accounts", "products", "sales_teams", "sales_pipeline", "interactions", "data_dictionary"]


def check(sql: str, *, limit: int = 100, schema: str | None = "crm", tables=TABLES) -> str:
    return validate_select(sql, allowed_tables=tables, default_limit=limit, schema=schema)


def refused(sql: str, **kwargs) -> str:
    with pytest.raises(UnsafeSQL) as info:
        check(sql, **kwargs)
    return str(info.value)


# --- accepted statements and the row cap --------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM accounts", "SELECT * FROM accounts LIMIT 100"),
        ("select * from accounts;", "SELECT * FROM accounts LIMIT 100"),
        ("SELECT * FROM accounts LIMIT 5", "SELECT * FROM accounts LIMIT 5"),
        ("SELECT * FROM accounts LIMIT 100", "SELECT * FROM accounts LIMIT 100"),
        ("SELECT * FROM accounts LIMIT 5000", "SELECT * FROM accounts LIMIT 100"),
        ("SELECT * FROM accounts LIMIT 5000 OFFSET 10", "SELECT * FROM accounts LIMIT 100 OFFSET 10"),
        ("SELECT * FROM accounts OFFSET 10", "SELECT * FROM accounts LIMIT 100 OFFSET 10"),
        ("SELECT * FROM accounts LIMIT ALL", "SELECT * FROM accounts LIMIT 100"),
        ("SELECT * FROM accounts LIMIT NULL", "SELECT * FROM accounts LIMIT 100"),
        ("SELECT * FROM accounts FETCH FIRST 5000 ROWS ONLY", "SELECT * FROM accounts LIMIT 100"),
        ("SELECT * FROM accounts FETCH FIRST 7 ROWS ONLY", "SELECT * FROM accounts LIMIT 7"),
        ("SELECT * FROM accounts FETCH FIRST ROW ONLY", "SELECT * FROM accounts LIMIT 1"),
        ("SELECT 1 UNION SELECT 2", "SELECT 1 UNION SELECT 2 LIMIT 100"),
        ("(SELECT 1 UNION SELECT 2) LIMIT 3000", "(SELECT 1 UNION SELECT 2) LIMIT 100"),
        ("SELECT 1 INTERSECT SELECT 1", "SELECT 1 INTERSECT SELECT 1 LIMIT 100"),
        ("SELECT 1 EXCEPT SELECT 2", "SELECT 1 EXCEPT SELECT 2 LIMIT 100"),
        ("TABLE accounts", "SELECT * FROM accounts LIMIT 100"),
        ("SELECT * FROM crm.accounts", "SELECT * FROM crm.accounts LIMIT 100"),
        ("SELECT * FROM ACCOUNTS", "SELECT * FROM ACCOUNTS LIMIT 100"),
        ("SELECT 1", "SELECT 1 LIMIT 100"),
    ],
)
def test_accepted_and_capped(sql: str, expected: str) -> None:
    assert check(sql) == expected


def test_limit_inside_a_subquery_is_left_alone_and_outer_query_is_capped() -> None:
    out = check("SELECT * FROM (SELECT * FROM accounts LIMIT 5000) AS a")
    assert out == "SELECT * FROM (SELECT * FROM accounts LIMIT 5000) AS a LIMIT 100"


def test_limit_on_the_last_union_branch_is_not_the_outer_limit() -> None:
    out = check("SELECT account FROM accounts UNION ALL (SELECT product FROM products LIMIT 5000)")
    assert out.endswith(") LIMIT 100")


def test_placeholder_limit_becomes_least() -> None:
    assert check("SELECT * FROM accounts LIMIT %s") == "SELECT * FROM accounts LIMIT LEAST(%s, 100)"
    assert check("SELECT * FROM accounts LIMIT %(n)s") == "SELECT * FROM accounts LIMIT LEAST(%(n)s, 100)"


def test_ctes_are_accepted() -> None:
    sql = (
        "WITH won AS (SELECT account_id, SUM(close_value) AS total FROM sales_pipeline "
        "WHERE deal_stage = 'Won' GROUP BY account_id), top AS (SELECT * FROM won ORDER BY total DESC) "
        "SELECT a.account, t.total FROM top t JOIN accounts a USING (account_id)"
    )
    out = check(sql)
    assert out.startswith("WITH won AS (")
    assert out.endswith("LIMIT 100")


def test_recursive_cte_sees_itself() -> None:
    out = check("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r")
    assert out.endswith("SELECT * FROM r LIMIT 100")


def test_cte_of_a_set_operation_and_nested_cte() -> None:
    check("WITH a AS (SELECT 1 AS x) SELECT x FROM a UNION SELECT x FROM a")
    check("SELECT * FROM accounts AS a JOIN (WITH s AS (SELECT 1 AS x) SELECT x FROM s) AS b ON TRUE")


def test_common_postgres_syntax_round_trips() -> None:
    sql = (
        "SELECT date_trunc('month', close_date) AS month, count(*) FILTER (WHERE deal_stage = 'Won') AS won, "
        "round(avg(close_value)::numeric, 2) AS avg_value, string_agg(DISTINCT sales_agent, ', ') AS agents "
        "FROM sales_pipeline WHERE close_date >= DATE '2024-01-01' AND account ILIKE 'a%' "
        "GROUP BY 1 ORDER BY 1 DESC NULLS LAST"
    )
    out = check(sql)
    assert "ILIKE 'a%'" in out and "FILTER(WHERE deal_stage = 'Won')" in out
    # lower-case function names stay as written (a quoted name keeps working)
    assert "date_trunc(" in out or "DATE_TRUNC(" in out


def test_quoted_original_column_names_survive() -> None:
    out = check('SELECT "timestamp", comment FROM interactions')
    assert out.startswith('SELECT "timestamp", comment FROM interactions')
    out = check('SELECT "table", field FROM data_dictionary')
    assert '"table"' in out


def test_modulo_is_rendered_as_mod_function() -> None:
    # A bare % would be read by psycopg as a placeholder when params are passed.
    assert check("SELECT account_id % 2 FROM accounts") == "SELECT MOD(account_id, 2) FROM accounts LIMIT 100"


def test_table_functions_that_are_not_denied_are_accepted() -> None:
    assert "GENERATE_SERIES(1, 3)" in check("SELECT x FROM generate_series(1, 3) AS g(x)")


def test_default_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        validate_select("SELECT 1", allowed_tables=TABLES, default_limit=0)


def test_allowed_tables_must_not_be_a_string() -> None:
    with pytest.raises(TypeError):
        validate_select("SELECT * FROM accounts", allowed_tables="accounts", default_limit=10)


def test_output_is_itself_valid_input() -> None:
    first = check("select a.account, p.close_value from sales_pipeline p join accounts a on a.account_id = p.account_id")
    assert check(first) == first


# --- placeholders -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM accounts WHERE sector = %s",
        "SELECT * FROM accounts WHERE sector = %s AND revenue > %s AND employees BETWEEN %s AND %s",
        "SELECT * FROM accounts WHERE account_id IN (%s, %s) OR account_id = ANY(%s)",
        "SELECT * FROM accounts WHERE account = %(name)s OR subsidiary_of = %(name)s",
        "SELECT * FROM sales_pipeline WHERE close_date >= %(start)s AND close_date < %(end)s",
        "SELECT * FROM accounts WHERE account LIKE %s",
        "SELECT * FROM accounts WHERE account LIKE 'A%%' AND sector = %s",
    ],
)
def test_placeholders_survive_in_order(sql: str) -> None:
    out = check(sql)
    pattern = re.compile(r"%%|%\([^)]*\)s|%s")
    assert pattern.findall(out) == pattern.findall(sql)


def test_positional_placeholders_keep_their_order() -> None:
    out = check("SELECT * FROM sales_pipeline WHERE deal_stage = %s LIMIT %s OFFSET %s")
    assert out == "SELECT * FROM sales_pipeline WHERE deal_stage = %s LIMIT LEAST(%s, 100) OFFSET %s"


def test_cast_placeholder_survives() -> None:
    out = check("SELECT * FROM sales_pipeline WHERE engage_date > CURRENT_DATE - CAST(%s AS INTERVAL)")
    assert "CAST(%s AS INTERVAL)" in out


def test_placeholder_text_inside_a_literal_is_kept_verbatim() -> None:
    # psycopg counts it as a placeholder too; the guard keeps the literal as written.
    assert "'x%s'" in check("SELECT 'x%s' || %s")


def test_reordering_placeholders_is_refused() -> None:
    # sqlglot renders OFFSET after LIMIT, which would swap the two parameters.
    message = refused("SELECT * FROM accounts OFFSET %s LIMIT %s")
    assert "placeholders" in message and "LIMIT before OFFSET" in message


def test_named_placeholders_may_move() -> None:
    out = check("SELECT * FROM accounts OFFSET %(o)s LIMIT %(n)s")
    assert out == "SELECT * FROM accounts LIMIT LEAST(%(n)s, 100) OFFSET %(o)s"


def test_placeholder_sqlglot_cannot_keep_is_refused() -> None:
    assert "CAST(%s AS interval)" in refused("SELECT * FROM sales_pipeline WHERE close_date > now() - INTERVAL %s")


def test_placeholder_in_a_comment_is_refused() -> None:
    assert "comments" in refused("SELECT * FROM accounts -- %s")


def test_comments_are_dropped() -> None:
    assert check("SELECT 1 -- x */ DROP TABLE accounts") == "SELECT 1 LIMIT 100"
    assert check("SELECT /* hi */ 1") == "SELECT 1 LIMIT 100"


@pytest.mark.parametrize("sql", ["SELECT %b", "SELECT %t", "SELECT %(a)b"])
def test_binary_and_text_placeholders_are_refused(sql: str) -> None:
    assert "not supported" in refused(sql)


def test_mixed_placeholder_styles_are_refused() -> None:
    assert "mixing" in refused("SELECT * FROM accounts WHERE account = %s AND sector = %(s)s")


def test_reserved_marker_name_is_refused() -> None:
    assert "reserved" in refused("SELECT %(__revops_p0)s")


# --- statement shape ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "word"),
    [
        ("INSERT INTO accounts (account_id) VALUES (1)", "INSERT"),
        ("UPDATE accounts SET sector = 'x'", "UPDATE"),
        ("DELETE FROM accounts", "DELETE"),
        ("MERGE INTO accounts a USING products p ON a.account_id = p.product_id WHEN MATCHED THEN DELETE", "MERGE"),
        ("CREATE TABLE x (a int)", "CREATE TABLE"),
        ("CREATE TABLE x AS SELECT * FROM accounts", "CREATE TABLE"),
        ("DROP TABLE accounts", "DROP TABLE"),
        ("ALTER TABLE accounts ADD COLUMN x int", "ALTER TABLE"),
        ("TRUNCATE accounts", "TRUNCATE"),
        ("COPY accounts TO STDOUT", "COPY"),
        ("COPY accounts FROM '/etc/passwd'", "COPY"),
        ("EXPLAIN ANALYZE DELETE FROM accounts", "EXPLAIN"),
        ("SET ROLE postgres", "SET"),
        ("GRANT ALL ON accounts TO public", "GRANT"),
        ("VACUUM accounts", "VACUUM"),
        ("CALL do_things()", "CALL"),
        ("VALUES (1), (2)", "VALUES"),
        ("BEGIN", "TRANSACTION"),
        ("COMMIT", "COMMIT"),
    ],
)
def test_only_select_roots(sql: str, word: str) -> None:
    assert refused(sql) == f"only SELECT statements are allowed; got {word}"


def test_exactly_one_statement() -> None:
    assert refused("SELECT 1; SELECT 2") == "only one statement is allowed; got 2"
    assert refused("SELECT 1; DROP TABLE accounts") == "only one statement is allowed; got 2"
    assert check("SELECT 1;;") == "SELECT 1 LIMIT 100"


@pytest.mark.parametrize("sql", ["", "   ", ";", " ; ; "])
def test_empty_sql(sql: str) -> None:
    assert refused(sql).startswith("empty SQL")


def test_parse_error_carries_the_parser_message() -> None:
    message = refused("SELEC * FROM accounts")
    assert message.startswith("could not parse the SQL:")
    assert "\x1b[" not in message  # no terminal colour codes


def test_unterminated_string_is_a_parse_error() -> None:
    assert refused("SELECT 'abc FROM accounts").startswith("could not parse the SQL")


def test_non_string_sql() -> None:
    assert "must be a string" in refused(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "sql",
    [
        "WITH gone AS (DELETE FROM accounts RETURNING *) SELECT * FROM gone",
        "WITH n AS (INSERT INTO accounts (account_id) VALUES (1) RETURNING *) SELECT * FROM n",
        "WITH u AS (UPDATE accounts SET sector = 'x' RETURNING *) SELECT 1",
        "SELECT * FROM accounts WHERE account_id IN (WITH d AS (DELETE FROM products RETURNING product_id) SELECT product_id FROM d)",
    ],
)
def test_data_modifying_ctes_are_refused(sql: str) -> None:
    assert "data-modifying or DDL statements are not allowed" in refused(sql)


def test_select_into_is_refused() -> None:
    assert "SELECT ... INTO" in refused("SELECT * INTO copy_of_accounts FROM accounts")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM accounts FOR UPDATE",
        "SELECT * FROM accounts FOR SHARE",
        "SELECT * FROM accounts FOR NO KEY UPDATE",
        "SELECT * FROM (SELECT * FROM accounts FOR UPDATE) AS a",
    ],
)
def test_locking_clauses_are_refused(sql: str) -> None:
    assert "locking clauses" in refused(sql)


def test_fetch_with_ties_is_refused() -> None:
    assert "WITH TIES" in refused("SELECT * FROM accounts ORDER BY revenue FETCH FIRST 5 ROWS WITH TIES")


# --- tables -------------------------------------------------------------------------------------


def test_unknown_table_lists_the_allowed_ones() -> None:
    assert refused("SELECT * FROM pg_authid") == (
        "table 'pg_authid' is not in the semantic model; "
        "allowed: accounts, data_dictionary, interactions, products, sales_pipeline, sales_teams"
    )


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM pg_catalog.pg_authid",
        "SELECT * FROM pg_catalog.pg_class",
        "SELECT * FROM information_schema.tables",
        "SELECT * FROM accounts WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_roles)",
        "SELECT * FROM INFORMATION_SCHEMA.columns",
    ],
)
def test_system_catalogs_are_refused(sql: str) -> None:
    assert "system catalog tables are not allowed" in refused(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM pg_roles",
        "SELECT * FROM pg_shadow",
        "SELECT * FROM accounts JOIN pg_user ON TRUE",
        "SELECT * FROM accounts WHERE account_id IN (SELECT 1 FROM tenants_tenant)",
        "SELECT * FROM accounts UNION SELECT * FROM integrations_connectorcredential",
    ],
)
def test_tables_outside_the_model_are_refused_anywhere(sql: str) -> None:
    assert "is not in the semantic model" in refused(sql)


def test_other_schema_is_refused() -> None:
    assert refused("SELECT * FROM public.accounts") == "schema 'public' is not allowed; only 'crm' is allowed"
    assert "use bare table names" in refused("SELECT * FROM crm.accounts", schema=None)


def test_three_part_names_are_refused() -> None:
    assert "three-part names" in refused("SELECT * FROM revops.crm.accounts")


def test_quoted_table_name_must_match_exactly() -> None:
    assert "'Accounts' is not in the semantic model" in refused('SELECT * FROM "Accounts"')
    assert check('SELECT * FROM "accounts"').startswith('SELECT * FROM "accounts"')


def test_cte_named_like_a_table_is_a_cte() -> None:
    check("WITH pg_roles AS (SELECT 1 AS x) SELECT x FROM pg_roles")


def test_non_recursive_cte_does_not_hide_the_real_table_in_its_own_body() -> None:
    # In PostgreSQL the inner pg_authid is the catalog table, not the CTE.
    assert "'pg_authid' is not in the semantic model" in refused(
        "WITH pg_authid AS (SELECT * FROM pg_authid) SELECT * FROM pg_authid"
    )


def test_cte_is_only_visible_after_its_definition() -> None:
    assert "'later' is not in the semantic model" in refused(
        "WITH first AS (SELECT * FROM later), later AS (SELECT 1 AS x) SELECT * FROM first"
    )


def test_cte_in_a_subquery_does_not_cover_the_outer_query() -> None:
    assert "'pg_authid' is not in the semantic model" in refused(
        "SELECT * FROM pg_authid, (WITH pg_authid AS (SELECT 1 AS x) SELECT x FROM pg_authid) AS s"
    )


def test_empty_allowlist_refuses_every_table() -> None:
    assert refused("SELECT * FROM accounts", tables=[]).endswith("allowed: (none)")
    assert check("SELECT 1", tables=[]) == "SELECT 1 LIMIT 100"


# --- functions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "name"),
    [
        ("SELECT pg_sleep(10)", "pg_sleep"),
        ("SELECT pg_sleep_for('5 minutes')", "pg_sleep_for"),
        ("SELECT PG_SLEEP(1)", "pg_sleep"),
        ('SELECT "pg_sleep"(1)', "pg_sleep"),
        ("SELECT * FROM accounts WHERE pg_sleep(1) IS NULL", "pg_sleep"),
        ("SELECT * FROM pg_sleep(1)", "pg_sleep"),
        ("SELECT pg_read_file('/etc/passwd')", "pg_read_file"),
        ("SELECT pg_read_binary_file('/etc/passwd')", "pg_read_binary_file"),
        ("SELECT * FROM pg_ls_dir('.')", "pg_ls_dir"),
        ("SELECT pg_stat_file('postgresql.conf')", "pg_stat_file"),
        ("SELECT lo_import('/etc/passwd')", "lo_import"),
        ("SELECT lo_export(1, '/tmp/x')", "lo_export"),
        ("SELECT * FROM dblink('host=x', 'select 1') AS t(a int)", "dblink"),
        ("SELECT dblink_exec('host=x', 'drop table x')", "dblink_exec"),
        ("SELECT set_config('role', 'postgres', false)", "set_config"),
        ("SELECT current_setting('data_directory')", "current_setting"),
        ("SELECT pg_terminate_backend(1)", "pg_terminate_backend"),
        ("SELECT pg_cancel_backend(1)", "pg_cancel_backend"),
        ("SELECT pg_reload_conf()", "pg_reload_conf"),
        ("SELECT pg_advisory_lock(1)", "pg_advisory_lock"),
        ("SELECT pg_try_advisory_lock(1)", "pg_try_advisory_lock"),
        ("SELECT txid_current()", "txid_current"),
        ("SELECT query_to_xml('select * from pg_authid', true, true, '')", "query_to_xml"),
        ("SELECT table_to_xml('pg_authid', true, true, '')", "table_to_xml"),
        ("SELECT nextval('some_seq')", "nextval"),
        ("SELECT pg_notify('ch', 'x')", "pg_notify"),
        ("SELECT account FROM accounts ORDER BY pg_sleep(1)", "pg_sleep"),
        ("WITH s AS (SELECT pg_sleep(1)) SELECT * FROM s", "pg_sleep"),
    ],
)
def test_denied_functions(sql: str, name: str) -> None:
    assert refused(sql).startswith(f"function {name}() is not allowed")


def test_schema_qualified_denied_function() -> None:
    assert refused("SELECT pg_catalog.pg_sleep(1)").startswith("function pg_sleep() is not allowed")


def test_functions_in_system_schemas_are_refused() -> None:
    assert refused("SELECT pg_catalog.lower('A')") == "functions in schema 'pg_catalog' are not allowed"
    assert "information_schema" in refused("SELECT information_schema._pg_truetypid(1, 2)")


def test_functions_in_other_schemas_are_refused() -> None:
    assert "outside the warehouse schema" in refused("SELECT public.my_function(1)")
    assert check("SELECT crm.my_function(1)").startswith("SELECT crm.my_function(1)")


def test_ordinary_functions_are_fine() -> None:
    out = check("SELECT lower(account), coalesce(subsidiary_of, 'none'), length(account) FROM accounts")
    assert "lower(account)" in out.lower()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT word FROM ts_stat('SELECT to_tsvector(''simple'', rolname) FROM pg_catalog.pg_roles')",
        "SELECT ts_rewrite('a'::tsquery, 'SELECT t, s FROM aliases')",
        "SELECT * FROM crosstab('SELECT 1') AS ct(a int)",
        "SELECT * FROM connectby('accounts', 'account_id', 'parent', '1', 0) AS t(a int)",
    ],
)
def test_functions_that_run_sql_strings_are_refused(sql):
    with pytest.raises(UnsafeSQL):
        validate_select(sql, allowed_tables=["accounts"], default_limit=10)


def test_bare_system_catalog_names_are_refused_even_when_allow_listed():
    """PostgreSQL resolves an unqualified pg_* name in pg_catalog before the search_path."""
    from integrations.warehouse.guard import UnsafeSQL, validate_select

    with pytest.raises(UnsafeSQL, match="system catalog"):
        validate_select("SELECT nspname FROM pg_namespace", allowed_tables={"pg_namespace"}, default_limit=10, schema="wh")
