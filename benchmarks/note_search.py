"""Call-note search benchmark: the semantic ``contains`` filter (``ILIKE '%word%'``) with and without
the pg_trgm GIN index the PostgreSQL import creates on long text columns, by EXPLAIN ANALYZE.

Run ``python -m benchmarks.note_search`` (``--help`` for the knobs). It:

1. creates a throwaway database ``revops_bench_notes`` on the embedded PostgreSQL server (never
   the dev database) and loads the demo CRM into schema ``crm`` with the product's importer
   (:func:`integrations.warehouse.importer.import_tables_load_postgres`), the call notes
   (``interactions``, 626 rows) repeated ``--scale`` times (default 1: the demo as shipped;
   100 gives 62,600 notes, a year of a mid-size sales team) so the effect of the index at size
   shows;
2. compiles, with the product's semantic compiler over the demo semantic model
   (``knowledge/demo_docs/semantic_model.md``) and the demo competitor list
   (``knowledge/demo_docs/competitors.md``), the note searches the answers run: the competitor
   mentions question (``agents/playbooks/data.py competitor_mentions``: accounts by notes naming a
   competitor or a generic phrase, then the notes naming a competitor) and the deal copilot's
   note searches (``agents/playbooks/copilot.py``: objection cues, competitors);
3. runs each with ``EXPLAIN (ANALYZE)`` ``--repeat`` times (median of the execution times the
   server reports, ms), in the form the compiler emits for PostgreSQL (one ``~*`` regular
   expression) and in the form it emitted before (one ``ILIKE`` per value), with the trigram
   indexes dropped, then created again; prints the times, the speed-up over ILIKE without index
   and the plan's scans;
4. drops the database.

Server-side execution time only (no network, no Python); loopback only; nothing leaves the host.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
from pathlib import Path

from benchmarks.harness import ROOT, drop_database, recreate_database, server_env

DATABASE = "revops_bench_notes"
SCHEMA = "crm"


def _front_matter(name: str) -> dict:
    from knowledge.frontmatter import split_front_matter

    return split_front_matter((ROOT / "knowledge" / "demo_docs" / name).read_text())[0]


def _ilike_form(sql: str, params: dict, values: tuple[str, ...]) -> tuple[str, dict]:
    """The same statement with the ``contains`` filter as the compiler wrote it before (one
    ``ILIKE '%value%'`` per value, ``%`` and ``_`` escaped), for the comparison."""
    [(name, _)] = [(k, v) for k, v in params.items() if "|" in str(v) or len(values) == 1]
    match = re.search(r'("[^"]+"\."[^"]+") ~\* %\(' + name + r"\)s", sql)
    column = match.group(1)
    likes = {f"{name}_{i}": "%" + v.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%" for i, v in enumerate(values)}
    ors = " OR ".join(f"{column} ILIKE %({k})s" for k in likes)
    return sql.replace(match.group(0), ors), {**{k: v for k, v in params.items() if k != name}, **likes}


def _queries() -> dict[str, object]:
    """``{label: CompiledQuery}`` of the note searches the answers run; each compiled query gets
    ``values`` (the searched values) for :func:`_ilike_form`."""
    from agents.semantic.compiler import compile_query
    from agents.semantic.query import Filter, SemanticQuery
    from knowledge.semantic_model import parse_semantic_model

    model = parse_semantic_model(_front_matter("semantic_model.md"))
    rules = _front_matter("competitors.md")
    names = tuple(str(c) for c in rules["competitors"])
    phrases = names + tuple(str(p) for p in rules["generic_phrases"])
    cues = tuple(str(c) for c in rules["objection_cues"])
    queries = {
        "competitor mentions by account": compile_query(
            model, SemanticQuery(metrics=("call_notes",), group_by=("account",), filters=(Filter("note_text", phrases, "contains"),))
        ),
        "notes naming a competitor": compile_query(model, SemanticQuery(fields=("note_text",), filters=(Filter("note_text", names, "contains"),))),
        "copilot: objection cues": compile_query(
            model, SemanticQuery(fields=("account", "note_date", "note_text"), filters=(Filter("note_text", cues, "contains"),))
        ),
        "copilot: competitors": compile_query(
            model, SemanticQuery(fields=("account", "note_date", "note_text"), filters=(Filter("note_text", names, "contains"),))
        ),
    }
    searched = {"competitor mentions by account": phrases, "notes naming a competitor": names, "copilot: objection cues": cues, "copilot: competitors": names}
    return {label: (q, searched[label]) for label, q in queries.items()}


def _explain(cur, sql: str, params: dict, repeat: int) -> tuple[float, str]:
    """(median execution ms, first plan line) of ``EXPLAIN (ANALYZE, FORMAT JSON)`` run ``repeat`` times."""
    times, top = [], ""
    for _ in range(repeat):
        plan = cur.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params).fetchone()[0][0]
        times.append(float(plan["Execution Time"]))
        top = _plan_nodes(plan["Plan"])
    return statistics.median(times), top


def _plan_nodes(node: dict) -> str:
    """The scans of a plan, e.g. ``Bitmap Index Scan on interactions_comment_idx``."""
    found: list[str] = []

    def walk(n: dict) -> None:
        if "Scan" in n["Node Type"]:
            found.append(f"{n['Node Type']} on {n.get('Index Name') or n.get('Relation Name')}")
        for child in n.get("Plans", []):
            walk(child)

    walk(node)
    return "; ".join(dict.fromkeys(found))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.note_search", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=1, help="copies of the 626 demo call notes (default 1)")
    parser.add_argument("--repeat", type=int, default=5, help="EXPLAIN ANALYZE runs per query and state (default 5)")
    args = parser.parse_args(argv)
    if not (1 <= args.scale <= 1000 and 1 <= args.repeat <= 50):
        parser.error("scale 1-1000, repeat 1-50")

    recreate_database(DATABASE)
    try:
        os.environ.update(server_env(DATABASE))
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.db import connection

        from integrations.warehouse.importer import import_files_read, import_tables_load_postgres, long_text_columns
        from integrations.warehouse.loader import DEMO_CSV_DIR, DEMO_TABLES, demo_column_types

        tables = import_files_read([Path(DEMO_CSV_DIR) / f"{t}.csv" for t in DEMO_TABLES], column_types=demo_column_types())
        for t in tables:
            if t.name == "interactions":
                t.rows = t.rows * args.scale
        counts = import_tables_load_postgres(schema=SCHEMA, tables=tables, replace_schema=True)
        indexed = {t.name: long_text_columns(t) for t in tables if long_text_columns(t)}
        print(f"loaded {counts}; trigram-indexed long text columns: {indexed}")
        queries = _queries()
        connection.ensure_connection()
        with connection.connection.cursor() as cur:
            cur.execute(f'SET search_path TO "{SCHEMA}", public')
            indexes = cur.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND indexdef LIKE %s", [SCHEMA, "%gin_trgm_ops%"]
            ).fetchall()
            results: dict[str, dict[str, tuple[float, str]]] = {label: {} for label in queries}
            for state in ("without index", "with index"):
                for name, ddl in indexes:
                    cur.execute(f'DROP INDEX IF EXISTS "{SCHEMA}"."{name}"' if state == "without index" else ddl.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1))
                cur.execute("ANALYZE")
                for label, (compiled, values) in queries.items():
                    results[label][f"ILIKE per value, {state}"] = _explain(cur, *_ilike_form(compiled.sql, compiled.params, values), args.repeat)
                    results[label][f"one ~* regex, {state}"] = _explain(cur, compiled.sql, compiled.params, args.repeat)
            connection.connection.rollback()
        print(f"\n{counts['interactions']} call notes, median of {args.repeat} EXPLAIN ANALYZE runs (server execution time), "
              f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for label, by_state in results.items():
            print(f"\n{label}")
            baseline = by_state["ILIKE per value, without index"][0]
            for state, (ms, plan) in by_state.items():
                print(f"  {state:<32} {ms:9.2f} ms  {baseline / ms if ms else float('nan'):5.2f}x   {plan}")
        connection.close()
        return 0
    finally:
        drop_database(DATABASE)


if __name__ == "__main__":
    sys.exit(main())
