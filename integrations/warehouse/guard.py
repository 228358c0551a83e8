"""The SQL guard: the one gate every warehouse statement passes before it reaches a database.

:func:`validate_select` parses the statement with sqlglot (PostgreSQL dialect), refuses anything
that is not a plain read of the tenant's semantic-model tables, caps the row count and returns
the statement as sqlglot renders it; that rendering is what the connector executes (and what the
answer cites). The guard is the first of three layers: the connector also runs each statement in
a ``READ ONLY`` transaction under a ``statement_timeout``, as a role that only holds ``SELECT``
on the warehouse schema (:mod:`integrations.warehouse.loader`).

Rules (each refusal raises :class:`UnsafeSQL` naming the rule):

- the text parses; exactly one statement (a trailing ``;`` is fine);
- the root is a SELECT or a set operation (UNION / INTERSECT / EXCEPT), optionally with CTEs;
- no data-modifying or DDL node anywhere (INSERT, UPDATE, DELETE, MERGE, CREATE, DROP, ALTER,
  TRUNCATE, COPY, SET, GRANT, any statement sqlglot only knows as a "command" such as EXPLAIN,
  CALL or VACUUM), no ``SELECT ... INTO``, no ``FOR UPDATE`` / ``FOR SHARE``; this includes
  data-modifying CTEs (``WITH x AS (DELETE ...)``);
- every table is a CTE visible at that point (PostgreSQL scoping: a non-recursive CTE sees only
  the CTEs before it) or one of ``allowed_tables``; a schema qualifier must be the connector
  schema; ``pg_catalog`` / ``information_schema`` are refused outright;
- every function is on :data:`ALLOWED_FUNCTIONS` (an allow list: aggregates, window, date/time,
  string, math, conditional, cast, array and JSON functions; issue 13 finding 7: a deny list
  missed ``pg_table_size``, ``version()``, ``inet_server_addr()``...) unless it is qualified
  with the connector schema (the tenant's own function, resolved only there); no function in
  another schema; no SQL-value function spelled without parentheses that reveals server state
  (``user``, ``current_role``...); no cast to an ``reg*`` type (they look names up in the
  system catalogs);
- the outermost query gets ``LIMIT default_limit`` when it has none; a larger literal LIMIT is
  lowered; a non-literal LIMIT (``LIMIT %s``, ``LIMIT ALL``) becomes
  ``LIMIT LEAST(<expr>, default_limit)``; ``FETCH FIRST n ROWS ONLY`` becomes ``LIMIT``.

Driver placeholders (``%s`` and ``%(name)s``, as psycopg uses them) survive validation: sqlglot
parses and renders them verbatim. Because sqlglot may reorder clauses (``OFFSET %s LIMIT %s`` is
rendered ``LIMIT ... OFFSET ...``) or rewrite an expression around a placeholder
(``INTERVAL %s``), each positional ``%s`` is first renamed to a unique named marker, and after
rendering the guard checks every marker is still there, once, in the original order, before
turning the markers back into ``%s``; named placeholders must survive as the same multiset.
When that check fails the statement is refused with advice (use named placeholders, write
``LIMIT`` before ``OFFSET``, ``CAST(%s AS interval)``). Other consequences of the rendering:
comments are dropped (a ``%s`` inside a comment is therefore refused), ``a % b`` is rendered
``MOD(a, b)`` so the output never holds a bare ``%`` operator that psycopg would mistake for a
placeholder (with params, write ``MOD()``: ``%%`` does not parse), and ``%b`` / ``%t``
placeholders are refused (sqlglot would turn ``%b`` into ``%s AS b``).

What runs is exactly what was checked, with one parse in the common case: when the statement is
already in the guard's own rendering (as the semantic compiler writes it), the text that runs is
that checked text, unchanged or with `` LIMIT n`` appended to its outermost query; any other
rendering (a reordered clause, a rewritten expression, a lowered limit) is parsed and checked
again before it is returned. Results are also remembered per process (the last
:data:`CACHE_SIZE` distinct statements and rule sets), so a repeated statement is not parsed.

**Dialects.** ``dialect`` names the engine's sqlglot dialect (:data:`DIALECTS`): the statement is
parsed, checked and rendered in it. ``postgres`` (the default) is described above. ``duckdb``
(the embedded warehouse, :mod:`integrations.warehouse.duckdb_engine`) applies the same rules plus:

- placeholders are DuckDB's own: ``$name`` (named) and ``?`` (positional); they must survive the
  rendering unchanged and in order. psycopg-style ``%(name)s`` / ``%s`` (what callers written for
  PostgreSQL send) are first rewritten to ``$name`` / ``?``, so the same parameters bind;
- nothing that reads outside the database: the file/network table functions of
  :data:`DUCKDB_FILE_FUNCTIONS` (``read_csv``, ``read_parquet``, ``glob``, ``sqlite_scan``...)
  are refused with a message that says so (they are not on the allow list either), and so is a
  quoted table name that looks like a path or URL (DuckDB's "replacement scan" would read
  ``FROM 'data.csv'`` or ``FROM 's3://...'`` as a file);
- DuckDB's catalog views (``duckdb_*``, ``sqlite_*``, ``pragma_*``) are refused like ``pg_*``;
- ``ATTACH``, ``INSTALL``, ``LOAD``, ``PRAGMA``, ``EXPORT``, ``COPY``, ``SET`` and every other
  statement is refused by the "only SELECT" rule.

The DuckDB connector's second layer is the connection itself: read-only, with
``enable_external_access`` off and the configuration locked.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.errors import ParseError, TokenError

from integrations.warehouse.base import UnsafeSQL

__all__ = [
    "ALLOWED_FUNCTIONS",
    "DIALECTS",
    "DUCKDB_FILE_FUNCTIONS",
    "SYSTEM_SCHEMAS",
    "validate_select",
]

#: sqlglot dialect names the guard speaks (one per warehouse engine).
DIALECTS = ("postgres", "duckdb")

#: DuckDB table functions that read files, URLs or other databases (DuckDB documentation, "Data
#: Import" and the extension pages); refused in agent SQL with a message that names the reason.
DUCKDB_FILE_FUNCTIONS = frozenset(
    {
        "read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "parquet_metadata",
        "parquet_schema", "parquet_file_metadata", "parquet_kv_metadata", "read_json",
        "read_json_auto", "read_json_objects", "read_json_objects_auto", "read_ndjson",
        "read_ndjson_auto", "read_ndjson_objects", "read_text", "read_blob", "read_xlsx", "glob",
        "sqlite_scan", "sqlite_attach", "postgres_scan", "postgres_query", "postgres_attach",
        "mysql_scan", "mysql_query", "iceberg_scan", "iceberg_metadata", "iceberg_snapshots",
        "delta_scan", "st_read", "query_table", "query", "read_csv_auto", "load_aws_credentials",
        "getenv",
        # sqlglot's names for the typed nodes of some of them
        "readcsv", "readparquet", "read_c_s_v", "read_parquet",
    }
)

#: Catalog-view name prefixes DuckDB resolves to its own system views.
_DUCKDB_SYSTEM_PREFIXES = ("duckdb_", "sqlite_", "pragma_", "pg_")

#: Schemas whose tables and functions are never reachable, qualified or not.
SYSTEM_SCHEMAS = frozenset({"pg_catalog", "information_schema", "pg_toast"})

#: The functions agents may call, lower-cased: THE one list (issue 13, finding 7). Everything else
#: is refused ("function version() is not allowed: ..."). A name is matched against what the
#: statement says for a function sqlglot does not know (``exp.Anonymous``), and against sqlglot's
#: names for one it parses into a typed node; where those differ from PostgreSQL's the sqlglot
#: name is listed too, with the PostgreSQL spelling in a comment. The semantic compiler
#: (agents/semantic/compiler.py) emits COUNT, SUM, AVG, MIN, MAX, PERCENTILE_CONT, NULLIF,
#: COALESCE, CASE, CAST, DATE_TRUNC and the dimension-``sql`` functions (EXTRACT, LOWER, UPPER,
#: TRIM, ROUND, ABS, CEIL, FLOOR, LEAST, GREATEST); integrations/tests/test_guard_allowlist.py
#: checks that every function it emits is here. Left out on purpose: anything reading server,
#: session or catalog state (``version``, ``current_user``, ``pg_*``, ``inet_*``, ``txid_*``,
#: ``current_setting``...), anything running SQL given as a string, sequences, sleeps, files,
#: locks, ``random``.
ALLOWED_FUNCTIONS: frozenset[str] = frozenset(
    {
        # aggregates
        "count", "sum", "avg", "min", "max", "every",
        "stddev", "stddev_pop", "stddev_samp", "stdev", "variance", "var_pop", "var_samp",
        "variance_pop", "variance_samp",
        "bool_and", "bool_or", "logical_and", "logical_or",  # bool_and / bool_or
        "string_agg", "group_concat",  # string_agg
        "array_agg", "json_agg", "jsonb_agg", "json_object_agg", "jsonb_object_agg",
        "j_s_o_n_array_agg", "j_s_o_n_object_agg", "j_s_o_n_b_object_agg",  # json(b)_(object_)agg
        "percentile_cont", "percentile_disc", "mode",
        "corr", "covar_pop", "covar_samp",
        "regr_slope", "regr_intercept", "regr_r2", "regr_count", "regr_avgx", "regr_avgy",
        "regr_sxx", "regr_syy", "regr_sxy",
        # window functions
        "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile",
        "lag", "lead", "first_value", "last_value", "nth_value",
        # date and time
        "now", "current_date", "current_time", "current_timestamp", "localtime", "localtimestamp",
        "date_trunc", "timestamp_trunc", "date_part", "extract", "age", "date", "date_bin",
        "make_date", "make_time", "make_timestamp", "make_timestamptz", "make_interval",
        "time_from_parts", "timestamp_from_parts",  # make_time / make_timestamp
        "to_char", "time_to_str",  # to_char
        "to_date", "str_to_date",  # to_date
        "to_timestamp", "str_to_time", "unix_to_time",  # to_timestamp
        "justify_days", "justify_hours", "justify_interval", "isfinite",
        # strings
        "lower", "upper", "initcap", "length", "char_length", "character_length", "octet_length",
        "bit_length", "trim", "btrim", "ltrim", "rtrim", "lpad", "rpad", "pad",
        "substring", "substr", "left", "right", "position", "strpos", "str_position",
        "replace", "translate", "concat", "concat_ws", "split_part", "repeat", "reverse",
        "starts_with", "format", "md5", "to_hex", "hex", "ascii", "chr",
        "string_to_array", "array_to_string",
        "regexp_replace", "regexp_match", "regexp_matches", "regexp_split_to_array", "regexp_like",
        "regexp_i_like", "regexp_count", "regexp_substr", "regexp_instr",  # also ~, ~*
        # math
        "abs", "ceil", "ceiling", "floor", "round", "trunc", "sign", "sqrt", "cbrt", "power",
        "pow", "exp", "ln", "log", "log10", "mod", "div", "width_bucket", "pi", "degrees",
        "radians", "gcd", "lcm", "scale", "trim_scale", "to_number",
        # conditional and comparison
        "coalesce", "nullif", "greatest", "least", "case", "if", "exists", "any", "all",
        "num_nulls", "num_nonnulls",
        # casts (a cast to a reg* type is refused separately)
        "cast",
        # arrays and set-returning helpers
        "array", "unnest", "explode", "array_length", "array_size", "cardinality",
        "array_position", "array_contains_all", "array_overlaps",  # also @>, &&
        "generate_series", "exploding_generate_series",
        # JSON (->, ->>, #>, #>>, ?)
        "json_extract", "json_extract_scalar", "jsonb_extract", "jsonb_extract_scalar",
        "json_extract_path", "json_extract_path_text", "jsonb_extract_path",
        "jsonb_extract_path_text", "json_array_length", "jsonb_array_length",
        "json_build_object", "jsonb_build_object", "j_s_o_n_b_contains_top_key",
    }
)

#: SQL-value functions PostgreSQL accepts without parentheses that sqlglot may parse as a bare
#: column; unquoted they are never a column (reserved words), so an unquoted reference is a call.
_BARE_STATE_FUNCTIONS = frozenset(
    {"user", "current_user", "session_user", "current_role", "system_user", "current_catalog", "current_schema"}
)

#: Object identifier types whose input looks a name up in the system catalogs.
_CATALOG_LOOKUP_TYPES = frozenset(
    {
        "regclass", "regcollation", "regconfig", "regdictionary", "regnamespace", "regoper",
        "regoperator", "regproc", "regprocedure", "regrole", "regtype",
    }
)

_WHAT_IS_ALLOWED = (
    "agents may call only allow-listed aggregate, window, date/time, string, math, conditional, "
    "cast, array and JSON functions such as count, sum, avg, percentile_cont, date_trunc, extract, "
    "lower, round, coalesce, nullif, cast (integrations.warehouse.guard.ALLOWED_FUNCTIONS)"
)

_DIALECT_NAME = "postgres"
#: Distinct (statement, tables, limit, schema, dialect) results remembered per process.
CACHE_SIZE = 512


class _GuardPostgres(Postgres):
    """PostgreSQL as sqlglot renders it, except ``a % b`` is rendered ``MOD(a, b)``.

    psycopg treats every ``%`` in the text as a placeholder when params are passed, so the
    rendered SQL must not contain a bare modulo operator.
    """

    class Generator(Postgres.Generator):
        def mod_sql(self, expression: exp.Mod) -> str:
            return self.func("MOD", expression.this, expression.expression)


# Statement nodes that never belong in a read (looked up by name: the set varies by version).
_FORBIDDEN_NODE_NAMES = (
    "Insert",
    "Update",
    "Delete",
    "Merge",
    "Create",
    "Drop",
    "Alter",
    "AlterTable",
    "Command",
    "Copy",
    "TruncateTable",
    "Set",
    "Transaction",
    "Commit",
    "Rollback",
    "Grant",
    "Revoke",
    "Use",
    "Pragma",
    "LoadData",
    "Describe",
    "Analyze",
    "Kill",
    "Cache",
    "Uncache",
    "Refresh",
    "Comment",
    "Declare",
    "Execute",
    "Show",
    "Summarize",
)
_FORBIDDEN_NODES: tuple[type[exp.Expression], ...] = tuple(
    getattr(exp, name) for name in _FORBIDDEN_NODE_NAMES if isinstance(getattr(exp, name, None), type)
)

# sqlglot models some operators as functions (AND, OR, ~, ->, @>, ^, COLLATE...): each is one
# fixed built-in operation with no name the statement chooses, so the function allow list does
# not apply to them (their operands are still walked and checked).
_OPERATOR_NODES: tuple[type[exp.Expression], ...] = (exp.Binary, exp.Connector, exp.Unary)

# psycopg's view of a query text: "%%" is an escaped percent, "%s" / "%(name)s" placeholders.
_PCT_TOKEN = re.compile(r"%%|%\((?P<name>[^)]*)\)(?P<nfmt>.)|%(?P<fmt>.)", re.DOTALL)
_MARKER_PREFIX = "__revops_p"
_MARKER = re.compile(r"%\(" + _MARKER_PREFIX + r"(\d+)\)s")
_NAMED = re.compile(r"%\(([^)]*)\)s")


def validate_select(
    sql: str,
    *,
    allowed_tables: Iterable[str],
    default_limit: int,
    schema: str | None = None,
    dialect: str = "postgres",
) -> str:
    """Check that ``sql`` is one safe SELECT over ``allowed_tables`` and cap its rows.

    Args:
        sql: one PostgreSQL statement, possibly with psycopg placeholders (``%s`` or
            ``%(name)s``) and a trailing semicolon.
        allowed_tables: bare table names of the semantic model (compared lower-cased with the
            unquoted table names in ``sql``; a quoted name must match exactly).
        default_limit: the row cap (>= 1) for the outermost query.
        schema: the connector schema; ``schema.table`` is accepted only for this schema (and
            ``schema.function()`` only for this schema). ``None``: no qualifier is accepted.
        dialect: the engine's sqlglot dialect, one of :data:`DIALECTS` (see the module notes for
            what ``duckdb`` adds).

    Returns:
        The statement rendered by sqlglot in ``dialect``, comments removed, with the LIMIT rule
        applied and the placeholders exactly as given (for ``duckdb``: psycopg-style ones
        rewritten to ``$name`` / ``?``).

    Raises:
        UnsafeSQL: the statement was refused; the message says which rule and where.
        ValueError: ``default_limit`` is not a positive integer.
        TypeError: ``allowed_tables`` is a string instead of an iterable of names.
    """
    if dialect not in DIALECTS:
        raise ValueError(f"unknown SQL dialect {dialect!r}; one of: {', '.join(DIALECTS)}")
    if isinstance(default_limit, bool) or not isinstance(default_limit, int) or default_limit < 1:
        raise ValueError(f"default_limit must be a positive integer, got {default_limit!r}")
    if not isinstance(sql, str):
        raise UnsafeSQL(f"SQL must be a string, got {type(sql).__name__}")
    if isinstance(allowed_tables, str):
        raise TypeError("allowed_tables must be an iterable of table names, not a single string")
    allowed = frozenset(t.strip().lower() for t in allowed_tables if t and t.strip())
    if dialect == "duckdb":
        return _validate_duckdb(sql, allowed, default_limit, schema)
    return _validate(sql, allowed, default_limit, schema)


@lru_cache(maxsize=CACHE_SIZE)
def _validate_duckdb(sql: str, allowed: frozenset[str], default_limit: int, schema: str | None) -> str:
    """:func:`validate_select` for DuckDB (see the module notes); refusals are not cached."""
    text = duckdb_placeholders(sql)
    root = _parse_one(text, dialect="duckdb")
    _check(root, allowed=allowed, schema=schema, dialect="duckdb")
    before = _placeholder_texts(root)
    _apply_limit(root, default_limit)
    rendered = root.sql(dialect="duckdb", comments=False, normalize_functions=False)
    again = _parse_one(rendered, dialect="duckdb")
    _check(again, allowed=allowed, schema=schema, dialect="duckdb")
    if _placeholder_texts(again) != before:
        raise UnsafeSQL("the guard could not keep the placeholders in place; use named $name placeholders")
    if not _limit_within(again, default_limit):  # pragma: no cover - a sqlglot regression
        raise UnsafeSQL("the row limit could not be applied to this statement")
    return rendered


_PSYCOPG_NAMED = re.compile(r"%\((?P<name>[A-Za-z_][A-Za-z0-9_]*)\)s")
_PSYCOPG_POSITIONAL = re.compile(r"%s")


def duckdb_placeholders(sql: str) -> str:
    """``sql`` with psycopg placeholders rewritten for DuckDB: ``%(name)s`` -> ``$name``,
    ``%s`` -> ``?`` and ``%%`` -> ``%`` (as psycopg would send it). Text without a psycopg
    placeholder is returned unchanged (so ``LIKE 'A%'`` stays as written)."""
    if "%(" not in sql and "%s" not in sql:
        return sql
    out = _PSYCOPG_NAMED.sub(lambda m: "$" + m.group("name"), sql)
    out = _PSYCOPG_POSITIONAL.sub("?", out)
    return out.replace("%%", "%")


def _placeholder_texts(root: exp.Expression) -> list[str]:
    return [p.sql(dialect="duckdb") for p in root.find_all(exp.Placeholder)]


@lru_cache(maxsize=CACHE_SIZE)
def _validate(sql: str, allowed: frozenset[str], default_limit: int, schema: str | None) -> str:
    """:func:`validate_select` on normalised arguments; refusals raise and are not cached."""
    marked, positional_count, named = _mark_placeholders(sql)

    root = _parse_one(marked)
    _check(root, allowed=allowed, schema=schema)
    as_checked = _render(root)
    _apply_limit(root, default_limit)
    rendered = _render(root)

    # What runs is what was checked. When the input is the guard's own rendering, the text that
    # runs is that very text (parsed and checked above), as is or with " LIMIT n" appended to the
    # outermost query: nothing to parse again. Any other rewrite is parsed and checked again.
    if not (as_checked == marked and rendered in (marked, f"{marked} LIMIT {default_limit}")):
        again = _parse_one(rendered)
        _check(again, allowed=allowed, schema=schema)
        if not _limit_within(again, default_limit):  # pragma: no cover - a sqlglot regression
            raise UnsafeSQL("the row limit could not be applied to this statement")
    return _unmark_placeholders(rendered, count=positional_count, named=named)


def _render(root: exp.Expression) -> str:
    return root.sql(dialect=_GuardPostgres, comments=False, normalize_functions=False)


# --- placeholders -------------------------------------------------------------------------------


def _mark_placeholders(sql: str) -> tuple[str, int, Counter]:
    """Rename each positional ``%s`` to ``%(__revops_pN)s``.

    Returns the marked text, the number of positional placeholders, and a Counter of the
    named ones.

    Scans the raw text the way psycopg does (strings and comments included: psycopg does not
    parse SQL either), so the markers line up with the parameters psycopg will bind.
    """
    out: list[str] = []
    pos = 0
    positional: list[int] = []
    named: Counter = Counter()
    for m in _PCT_TOKEN.finditer(sql):
        token = m.group(0)
        if token == "%%":
            continue
        fmt = m.group("fmt") or m.group("nfmt")
        if fmt in ("b", "t"):
            raise UnsafeSQL(
                f"placeholder {token!r} is not supported; use %s or %(name)s (the driver picks the format)"
            )
        if fmt != "s":
            # A bare '%' (modulo operator or text in a literal): left alone, psycopg only
            # objects to it when params are passed, and then with its own clear message.
            continue
        if m.group("name") is not None:
            if m.group("name").startswith(_MARKER_PREFIX):
                raise UnsafeSQL(f"placeholder names starting with {_MARKER_PREFIX!r} are reserved")
            named[m.group("name")] += 1
            continue
        out.append(sql[pos : m.start()])
        out.append(f"%({_MARKER_PREFIX}{len(positional)})s")
        positional.append(len(positional))
        pos = m.end()
    out.append(sql[pos:])
    if positional and named:
        raise UnsafeSQL("mixing %s and %(name)s placeholders is not allowed; use one style")
    return "".join(out), len(positional), named


def _unmark_placeholders(rendered: str, *, count: int, named: Counter) -> str:
    """Check the rendering kept the placeholders and turn the markers back into ``%s``."""
    seen = [int(m.group(1)) for m in _MARKER.finditer(rendered)]
    if seen != list(range(count)):
        raise UnsafeSQL(
            "the guard could not keep the %s placeholders in place "
            f"({count} in the statement, {len(seen)} after rendering, order {seen}); "
            "use named %(name)s placeholders, put LIMIT before OFFSET, write CAST(%s AS interval) "
            "instead of INTERVAL %s, and keep placeholders out of comments"
        )
    named_after = Counter(name for name in _NAMED.findall(rendered) if not name.startswith(_MARKER_PREFIX))
    if named_after != named:
        raise UnsafeSQL(
            "the guard could not keep the %(name)s placeholders "
            f"(before: {dict(sorted(named.items()))}, after: {dict(sorted(named_after.items()))}); "
            "write CAST(%(name)s AS interval) instead of INTERVAL %(name)s and keep placeholders "
            "out of comments"
        )
    return _MARKER.sub("%s", rendered)


# --- parsing ------------------------------------------------------------------------------------


def _parse_one(sql: str, *, dialect: str = _DIALECT_NAME) -> exp.Expression:
    """Parse exactly one statement (a trailing semicolon is fine) or raise UnsafeSQL."""
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except ParseError as exc:
        raise UnsafeSQL(f"could not parse the SQL: {_parse_message(exc)}") from None
    except TokenError as exc:
        raise UnsafeSQL(f"could not parse the SQL: {exc}") from None
    if not statements:
        raise UnsafeSQL("empty SQL: expected one SELECT statement")
    if len(statements) > 1:
        raise UnsafeSQL(f"only one statement is allowed; got {len(statements)}")
    return statements[0]


def _parse_message(exc: ParseError) -> str:
    """sqlglot's parse error without its terminal colour codes."""
    if exc.errors:
        err = exc.errors[0]
        where = f" (line {err.get('line')}, column {err.get('col')}"
        near = (err.get("highlight") or "").strip()
        where += f", near {near!r})" if near else ")"
        return f"{err.get('description') or 'invalid SQL'}{where}"
    return re.sub(r"\x1b\[[0-9;]*m", "", str(exc))


# --- rules --------------------------------------------------------------------------------------


def _statement_name(node: exp.Expression) -> str:
    """What a statement node is, in SQL words ("INSERT", "CREATE TABLE", "EXPLAIN")."""
    if isinstance(node, exp.Command):
        return str(node.this or "COMMAND").upper()
    if isinstance(node, exp.TruncateTable):
        return "TRUNCATE"
    kind = node.args.get("kind")
    base = node.key.upper()
    if isinstance(kind, str) and isinstance(node, (exp.Create, exp.Drop, exp.Alter)):
        return f"{base} {kind.upper()}"
    return base


def _unwrap(node: exp.Expression) -> exp.Expression:
    """The query inside any number of parentheses."""
    while isinstance(node, (exp.Subquery, exp.Paren)) and node.this is not None:
        node = node.this
    return node


def _ident_name(ident: exp.Expression | str | None) -> str:
    """How PostgreSQL sees an identifier: unquoted names fold to lower case."""
    if ident is None:
        return ""
    if isinstance(ident, str):
        return ident.lower()
    if isinstance(ident, exp.Identifier):
        return ident.this if ident.quoted else ident.this.lower()
    return ident.name.lower()


def _check(root: exp.Expression, *, allowed: frozenset[str], schema: str | None, dialect: str = _DIALECT_NAME) -> None:
    inner = _unwrap(root)
    if not isinstance(inner, (exp.Select, exp.SetOperation)):
        raise UnsafeSQL(f"only SELECT statements are allowed; got {_statement_name(inner)}")
    for node in root.walk():
        if isinstance(node, _FORBIDDEN_NODES):
            raise UnsafeSQL(
                f"data-modifying or DDL statements are not allowed; found {_statement_name(node)} inside the query"
            )
        if isinstance(node, exp.Into):
            raise UnsafeSQL("SELECT ... INTO is not allowed (it creates a table)")
        if isinstance(node, exp.Lock):
            raise UnsafeSQL("locking clauses (FOR UPDATE / FOR SHARE) are not allowed")
        if dialect == "duckdb":
            _check_duckdb_node(node)
        if isinstance(node, exp.Func) and not isinstance(node, _OPERATOR_NODES):
            _check_function(node, schema=schema)
        elif isinstance(node, exp.Column):
            _check_bare_state_function(node)
        elif isinstance(node, exp.DataType):
            _check_cast_type(node)
        if isinstance(node, exp.Table):
            _check_table(node, allowed=allowed, schema=schema)


_PATH_LIKE = re.compile(r"[./\\:*?]")


def _check_duckdb_node(node: exp.Expression) -> None:
    """DuckDB only: no file/URL reading function, no path-like table name, no catalog view."""
    if isinstance(node, exp.Func) and not isinstance(node, _OPERATOR_NODES):
        names = {n.replace("_", "") for n in _function_names(node)}
        if names & {n.replace("_", "") for n in DUCKDB_FILE_FUNCTIONS}:
            raise UnsafeSQL(
                f"function {_function_names(node)[0]}() reads files, URLs or other databases and is not "
                "allowed in agent SQL; query the warehouse tables of the semantic model"
            )
    if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
        name = node.this.this
        if node.this.quoted and _PATH_LIKE.search(name):
            raise UnsafeSQL(f"reading files or URLs is not allowed in agent SQL: {name!r} is not a table")
        if name.lower().startswith(_DUCKDB_SYSTEM_PREFIXES):
            raise UnsafeSQL(f"system catalog tables are not allowed: {name}")


def _function_names(func: exp.Func) -> list[str]:
    """The names ``func`` goes by, lower-cased: as written for a function sqlglot does not know,
    else sqlglot's names for the node type (first: the one used in messages)."""
    if isinstance(func, exp.Anonymous):
        return [func.name.lower()]
    return [name.lower() for name in type(func).sql_names()] or [func.key.lower()]


def _display_name(func: exp.Func, names: list[str]) -> str:
    """The name PostgreSQL knows ``func`` by, for messages (``version``, not sqlglot's
    ``current_version``); only computed for a refusal."""
    if isinstance(func, exp.Anonymous):
        return names[0]
    head = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)", func.sql(dialect=_DIALECT_NAME))
    return head.group(1).lower() if head else names[0]


def _schema_qualifier(func: exp.Func) -> exp.Expression | None:
    """The qualifier of ``schema.func()`` (parsed as ``Dot(schema, func)``), else None."""
    parent = func.parent
    if isinstance(parent, exp.Dot) and parent.expression is func:
        return parent.this
    return None


def _check_function(func: exp.Func, *, schema: str | None) -> None:
    qualifier = _schema_qualifier(func)
    qualifier_name = ""
    if qualifier is not None and isinstance(qualifier, (exp.Identifier, exp.Column)):
        qualifier_name = _ident_name(qualifier)
    names = _function_names(func)
    own_function = qualifier is not None and schema is not None and qualifier_name == schema
    label = qualifier.sql(dialect=_DIALECT_NAME) if qualifier is not None else ""
    if not own_function and not any(name in ALLOWED_FUNCTIONS for name in names):
        where = f" (schema {label!r} is outside the warehouse schema)" if qualifier is not None else ""
        raise UnsafeSQL(f"function {_display_name(func, names)}() is not allowed{where}: {_WHAT_IS_ALLOWED}")
    if qualifier is None:
        return
    if qualifier_name in SYSTEM_SCHEMAS:
        raise UnsafeSQL(f"functions in schema {qualifier_name!r} are not allowed")
    if not own_function:
        raise UnsafeSQL(f"function {label}.{func.name}() is outside the warehouse schema")


def _check_bare_state_function(column: exp.Column) -> None:
    """``SELECT user`` / ``current_role``: sqlglot reads a column, PostgreSQL calls a function."""
    ident = column.this
    if (
        isinstance(ident, exp.Identifier)
        and not ident.quoted
        and not column.table
        and ident.this.lower() in _BARE_STATE_FUNCTIONS
    ):
        raise UnsafeSQL(f"function {ident.this.lower()}() is not allowed: {_WHAT_IS_ALLOWED}")


def _check_cast_type(node: exp.DataType) -> None:
    """Casts to ``regclass``, ``regproc``... resolve names in the system catalogs."""
    text = node.sql(dialect=_DIALECT_NAME).lower()
    if text.strip('"').split("[", 1)[0].strip() in _CATALOG_LOOKUP_TYPES:
        raise UnsafeSQL(f"casts to {text} are not allowed (they look names up in the system catalogs)")


def _visible_ctes(table: exp.Table) -> set[str]:
    """CTE names visible where ``table`` appears, with PostgreSQL's scoping rules."""
    names: set[str] = set()
    child: exp.Expression = table
    node = table.parent
    while node is not None:
        if isinstance(node, exp.With):
            ctes = list(node.expressions)
            if node.args.get("recursive"):
                visible = ctes
            else:
                index = next((i for i, cte in enumerate(ctes) if cte is child), len(ctes))
                visible = ctes[:index]
            names.update(_ident_name(cte.args["alias"].this) for cte in visible if cte.args.get("alias"))
        else:
            with_ = node.args.get("with_") or node.args.get("with")
            if isinstance(with_, exp.With) and with_ is not child:
                names.update(
                    _ident_name(cte.args["alias"].this) for cte in with_.expressions if cte.args.get("alias")
                )
        child, node = node, node.parent
    return names


def _check_table(table: exp.Table, *, allowed: frozenset[str], schema: str | None) -> None:
    catalog = table.args.get("catalog")
    db = table.args.get("db")
    if catalog is not None:
        raise UnsafeSQL(f"three-part names are not allowed: {table.sql(dialect=_DIALECT_NAME)}")
    if db is not None:
        db_name = _ident_name(db)
        if db_name in SYSTEM_SCHEMAS:
            raise UnsafeSQL(f"system catalog tables are not allowed: {table.sql(dialect=_DIALECT_NAME)}")
        if schema is None or db_name != schema:
            where = f"only '{schema}' is allowed" if schema else "use bare table names"
            raise UnsafeSQL(f"schema '{db_name}' is not allowed; {where}")
    this = table.this
    if not isinstance(this, exp.Identifier):
        return  # a table function (checked as a function) or ROWS FROM (...)
    name = _ident_name(this)
    if db is None and name in _visible_ctes(table):
        return
    if name not in allowed:
        listing = ", ".join(sorted(allowed)) or "(none)"
        raise UnsafeSQL(f"table '{name}' is not in the semantic model; allowed: {listing}")
    if name.lower().startswith("pg_"):
        # PostgreSQL resolves a bare pg_* name in pg_catalog before the search_path, so an
        # allow-listed "pg_class" would read the system catalog (other schemas and tables).
        raise UnsafeSQL(f"system catalog tables are not allowed: {name}")


# --- row cap ------------------------------------------------------------------------------------


def _int_literal(node: exp.Expression | None) -> int | None:
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return int(node.this)
        except ValueError:
            return None
    return None


def _apply_limit(root: exp.Expression, cap: int) -> None:
    """Give the outermost query a LIMIT of at most ``cap`` (in place)."""
    current = root.args.get("limit")
    if isinstance(current, exp.Fetch):
        options = current.args.get("limit_options")
        if options is not None and (options.args.get("with_ties") or options.args.get("percent")):
            raise UnsafeSQL("FETCH FIRST ... WITH TIES / PERCENT is not supported; use LIMIT")
        count = current.args.get("count")
        value = 1 if count is None else _int_literal(count)
        if value is None:
            new: exp.Expression = exp.Least(this=count.copy(), expressions=[exp.Literal.number(cap)])
        else:
            new = exp.Literal.number(min(value, cap))
        root.set("limit", exp.Limit(expression=new))
        return
    if current is None:
        root.set("limit", exp.Limit(expression=exp.Literal.number(cap)))
        return
    expression = current.args.get("expression")
    value = _int_literal(expression)
    if value is not None:
        if value > cap:
            current.set("expression", exp.Literal.number(cap))
        return
    if isinstance(expression, (exp.Var, exp.Null)) or expression is None:
        # LIMIT ALL / LIMIT NULL mean "no limit".
        current.set("expression", exp.Literal.number(cap))
        return
    # LIMIT %s or an expression: LEAST ignores NULL, so "no limit" also ends up as the cap.
    current.set("expression", exp.Least(this=expression.copy(), expressions=[exp.Literal.number(cap)]))


def _limit_within(root: exp.Expression, cap: int) -> bool:
    limit = root.args.get("limit")
    if not isinstance(limit, exp.Limit):
        return False
    expression = limit.args.get("expression")
    value = _int_literal(expression)
    if value is not None:
        return value <= cap
    if isinstance(expression, exp.Least):
        return any((_int_literal(e) or cap + 1) <= cap for e in [expression.this, *expression.expressions])
    return False
