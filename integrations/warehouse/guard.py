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
- no function from :data:`DENIED_FUNCTIONS` / :data:`DENIED_FUNCTION_PREFIXES` /
  :data:`DENIED_FUNCTION_SUBSTRINGS`, and no schema-qualified function outside the connector
  schema;
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
    "DENIED_FUNCTIONS",
    "DENIED_FUNCTION_PREFIXES",
    "DENIED_FUNCTION_SUBSTRINGS",
    "SYSTEM_SCHEMAS",
    "validate_select",
]

#: Schemas whose tables and functions are never reachable, qualified or not.
SYSTEM_SCHEMAS = frozenset({"pg_catalog", "information_schema", "pg_toast"})

#: Functions refused by exact (lower-cased) name: server files, settings, other sessions,
#: sequences (writes), notifications, administration.
DENIED_FUNCTIONS = frozenset(
    {
        "pg_read_file",
        "pg_read_binary_file",
        "pg_ls_dir",
        "pg_stat_file",
        "set_config",
        "current_setting",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "pg_current_logfile",
        "pg_logdir_ls",
        "pg_switch_wal",
        "pg_promote",
        "pg_log_backend_memory_contexts",
        "pg_import_system_collations",
        "pg_notify",
        "nextval",
        "setval",
        "copy",
        # Functions that execute an SQL string given as an argument: the string would escape
        # the table allow-list (found in review: ts_stat('SELECT ... FROM pg_catalog.pg_roles')).
        "ts_stat",
        "ts_rewrite",
        "crosstab",
        "crosstab2",
        "crosstab3",
        "crosstab4",
        "connectby",
        "xpath_table",
        "query_to_xml",
        "cursor_to_xml",
        "database_to_xml",
        "schema_to_xml",
        "table_to_xml",
    }
)

#: Functions refused by (lower-cased) prefix: sleeps, files, large objects (server file I/O),
#: dblink (connections elsewhere), advisory locks, transaction ids, replication and backups.
DENIED_FUNCTION_PREFIXES = (
    "pg_sleep",
    "pg_read_",
    "pg_ls_",
    "pg_file_",
    "pg_stat_",
    "lo_",
    "dblink",
    "pg_advisory",
    "pg_try_advisory",
    "txid_",
    "query_to_xml",
    "pg_backup_",
    "pg_create_",
    "pg_drop_",
    "pg_replication_",
    "pg_logical_",
)

#: Functions refused when the name contains one of these: the ``*_to_xml*`` family
#: (``query_to_xml``, ``table_to_xml``, ``cursor_to_xml``, ``schema_to_xml``...) runs SQL or reads
#: a table given as a string, which would bypass the table allowlist.
DENIED_FUNCTION_SUBSTRINGS = ("_to_xml",)

_DIALECT_NAME = "postgres"
#: Distinct (statement, tables, limit, schema) results remembered per process.
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

    Returns:
        The statement rendered by sqlglot for PostgreSQL, comments removed, with the LIMIT rule
        applied and the placeholders exactly as given.

    Raises:
        UnsafeSQL: the statement was refused; the message says which rule and where.
        ValueError: ``default_limit`` is not a positive integer.
        TypeError: ``allowed_tables`` is a string instead of an iterable of names.
    """
    if isinstance(default_limit, bool) or not isinstance(default_limit, int) or default_limit < 1:
        raise ValueError(f"default_limit must be a positive integer, got {default_limit!r}")
    if not isinstance(sql, str):
        raise UnsafeSQL(f"SQL must be a string, got {type(sql).__name__}")
    if isinstance(allowed_tables, str):
        raise TypeError("allowed_tables must be an iterable of table names, not a single string")
    allowed = frozenset(t.strip().lower() for t in allowed_tables if t and t.strip())
    return _validate(sql, allowed, default_limit, schema)


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


def _parse_one(sql: str) -> exp.Expression:
    """Parse exactly one statement (a trailing semicolon is fine) or raise UnsafeSQL."""
    try:
        statements = [s for s in sqlglot.parse(sql, read=_DIALECT_NAME) if s is not None]
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


def _check(root: exp.Expression, *, allowed: frozenset[str], schema: str | None) -> None:
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
        if isinstance(node, exp.Func):
            _check_function(node, schema=schema)
        if isinstance(node, exp.Table):
            _check_table(node, allowed=allowed, schema=schema)


def _function_names(func: exp.Func) -> set[str]:
    if isinstance(func, exp.Anonymous):
        return {func.name.lower()}
    return {name.lower() for name in type(func).sql_names()}


def _check_function(func: exp.Func, *, schema: str | None) -> None:
    for name in _function_names(func):
        if (
            name in DENIED_FUNCTIONS
            or name.startswith(DENIED_FUNCTION_PREFIXES)
            or any(part in name for part in DENIED_FUNCTION_SUBSTRINGS)
        ):
            raise UnsafeSQL(f"function {name}() is not allowed")
    parent = func.parent
    # "pg_catalog.pg_sleep(1)" parses as Dot(pg_catalog, pg_sleep(1)).
    if isinstance(parent, exp.Dot) and parent.expression is func:
        qualifier = parent.this
        qualifier_name = _ident_name(qualifier) if isinstance(qualifier, (exp.Identifier, exp.Column)) else ""
        label = qualifier.sql(dialect=_DIALECT_NAME)
        if qualifier_name in SYSTEM_SCHEMAS:
            raise UnsafeSQL(f"functions in schema {qualifier_name!r} are not allowed")
        if schema is None or qualifier_name != schema:
            raise UnsafeSQL(f"function {label}.{func.name}() is outside the warehouse schema")


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
