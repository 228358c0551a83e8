"""Data specialist: metric and list questions answered with SQL built from the semantic model.

Supported offline: win rate (overall or by agent / manager / office / product / sector),
closed-won revenue for a period, top accounts by closed-won revenue, average deal size, open
pipeline by stage, and competitor mentions in call notes. Each figure comes from the SQL result
it cites (``[n]`` refers to the run's citations).
"""

from __future__ import annotations

import re

from agents.playbooks.base import SpecialistAnswer
from agents.runtime.context import RunContext, fmt_pct, fmt_usd, md_table
from agents.timeperiods import parse_period

AGENT = "data"
TABLE_ROWS = 25  # longer lists continue as one line so Slack messages stay readable

_DIMENSIONS = [
    (r"\b(agent|agents|rep|reps|salesperson|sales people|seller|owner)s?\b", "owner", "sales agent"),
    (r"\bmanagers?\b", "manager", "sales manager"),
    (r"\b(office|offices|region|regions|regional)\b", "office", "regional office"),
    (r"\bproducts?\b", "product", "product"),
    (r"\b(sector|sectors|industry|industries|vertical)\b", "sector", "sector"),
]


def answer(ctx: RunContext, query: str) -> SpecialistAnswer:
    """Pick the metric the question asks for and compute it. Raises ToolError on tool failures."""
    q = query.lower()
    if re.search(r"competit|aurelia|bluehawk|primustech|northpeak|omnisuite|nexcore", q):
        return competitor_mentions(ctx)
    if re.search(r"win ?rate|conversion rate|close rate", q):
        return win_rate(ctx, query)
    if re.search(r"\btop\b.*\b(accounts?|customers?)\b|\bbiggest (accounts?|customers?)\b|\blargest (accounts?|customers?)\b", q):
        return top_accounts(ctx, query)
    if re.search(r"average (deal|contract)|avg\.? deal|deal size|acv", q):
        return average_deal_size(ctx, query)
    if re.search(r"revenue|booked|bookings|closed[- ]won|sales (did|in)", q):
        return closed_won_revenue(ctx, query)
    if re.search(r"pipeline|open (deals|opportunities)|by stage", q):
        return pipeline_by_stage(ctx)
    return SpecialistAnswer(
        AGENT,
        "### What I can answer offline\n\n"
        "Without an LLM I answer these data questions from your warehouse: win rate (overall or by "
        "agent, manager, office, product, sector), closed-won revenue for a period (e.g. last "
        "quarter), top accounts, average deal size, open pipeline by stage, and competitor mentions "
        "in call notes. Your question did not match one of them, so I computed nothing rather than "
        "guess.",
    )


def _opp_from(ctx: RunContext, dims: set[str]) -> tuple[str, dict]:
    """FROM clause over opportunities with the joins the dimensions need (from the semantic model)."""
    sm = ctx.semantic_model(agent=AGENT)
    o = sm.entity("opportunities")
    sql = f"FROM {o.sql_table} AS o"
    cols = {}
    if dims & {"office", "manager"}:
        t = sm.entity("sales_teams")
        sql += f" LEFT JOIN {t.sql_table} AS t ON t.{t.col('owner')} = o.{o.col('owner')}"
        cols["office"] = t.col("office", "t")
        cols["manager"] = t.col("manager", "t")
    if dims & {"product", "list_price"}:
        p = sm.entity("products")
        sql += f" LEFT JOIN {p.sql_table} AS p ON p.{p.col('id')} = o.{o.col('product_id')}"
        cols["product"] = p.col("name", "p")
        cols["list_price"] = p.col("list_price", "p")
    if "sector" in dims:
        a = sm.entity("accounts")
        sql += f" LEFT JOIN {a.sql_table} AS a ON a.{a.col('id')} = o.{o.col('account_id')}"
        cols["sector"] = a.col("sector", "a")
    cols["owner"] = o.col("owner", "o")
    return sql, cols


def _period(ctx: RunContext, query: str):
    """The period the question names, relative to the as-of date; declared for grounding."""
    period = parse_period(query, as_of=ctx.as_of)
    if period:
        ctx.computed("period", [period.start, period.end, period.label], f"relative to as-of {ctx.as_of.isoformat()}")
    return period


def _in_period(close_date_col: str, period, params: dict) -> str:
    """`` AND <close date> BETWEEN start AND end`` for ``period`` (adds ``start``/``end`` to
    ``params``); '' when the question names no period."""
    if not period:
        return ""
    params.update(start=period.start, end=period.end)
    return f" AND {close_date_col} BETWEEN %(start)s AND %(end)s"


def _won_in_period(ctx: RunContext, query: str):
    """(opportunities entity, period or None, WHERE clause, params) for won deals closed in the
    period the question names (all time when it names none)."""
    sm = ctx.semantic_model(agent=AGENT)
    o = sm.entity("opportunities")
    period = _period(ctx, query)
    params: dict = {"won": sm.stage_values("won")}
    where = f"WHERE {o.col('stage')} = ANY(%(won)s)" + _in_period(o.col("close_date"), period, params)
    return o, period, where, params


def win_rate(ctx: RunContext, query: str) -> SpecialistAnswer:
    """Win rate = Won / (Won + Lost) in percent over closed opportunities (semantic model stages)."""
    sm = ctx.semantic_model(agent=AGENT)
    o = sm.entity("opportunities")
    dim = next(((key, label) for pattern, key, label in _DIMENSIONS if re.search(pattern, query, re.I)), None)
    period = _period(ctx, query)
    from_sql, cols = _opp_from(ctx, {dim[0]} if dim else set())
    stage = o.col("stage", "o")
    params = {"won": sm.stage_values("won"), "lost": sm.stage_values("lost")}
    where = f"WHERE ({stage} = ANY(%(won)s) OR {stage} = ANY(%(lost)s))" + _in_period(o.col("close_date", "o"), period, params)
    select_dim = f"{cols[dim[0]]} AS {dim[0]}, " if dim else ""
    sql = (
        f"SELECT {select_dim}"
        f"COUNT(*) FILTER (WHERE {stage} = ANY(%(won)s)) AS won, "
        f"COUNT(*) FILTER (WHERE {stage} = ANY(%(lost)s)) AS lost, "
        f"ROUND(100.0 * COUNT(*) FILTER (WHERE {stage} = ANY(%(won)s)) / NULLIF(COUNT(*), 0), 1) AS win_rate_pct "
        f"{from_sql} {where}"
        + (f" GROUP BY {cols[dim[0]]} ORDER BY win_rate_pct DESC, {dim[0]}" if dim else "")
    )
    res = ctx.sql(sql, params, agent=AGENT, purpose=f"win rate{' by ' + dim[1] if dim else ''}")
    scope = f" ({period.describe()})" if period else ""
    title = f"### Win rate by {dim[1]}{scope}" if dim else f"### Win rate{scope}"
    if not res.rows or not any(r["won"] + r["lost"] for r in res.rows):
        return SpecialistAnswer(AGENT, f"{title}\n\nNo closed opportunities found{scope} [{res.citation}].")
    if dim:
        table = md_table(
            [dim[1].capitalize(), "Won", "Lost", "Win rate"],
            [[r[dim[0]] if r[dim[0]] is not None else "(none)", r["won"], r["lost"], fmt_pct(r["win_rate_pct"])] for r in res.rows],
        )
        best, worst = res.rows[0], res.rows[-1]
        total_won = sum(r["won"] for r in res.rows)
        total_lost = sum(r["lost"] for r in res.rows)
        ctx.computed("closed opportunities", [total_won, total_lost, total_won + total_lost], "won, lost, won + lost over all groups")
        summary = (
            f"Highest: **{best[dim[0]]}** at {fmt_pct(best['win_rate_pct'])}; lowest: **{worst[dim[0]]}** at "
            f"{fmt_pct(worst['win_rate_pct'])}, over {total_won + total_lost:,} closed opportunities "
            f"({total_won:,} won, {total_lost:,} lost) [{res.citation}]."
        )
        body = f"{title}\n\n{summary}\n\n{table}\n\nWin rate = Won / (Won + Lost), closed opportunities only."
    else:
        r = res.rows[0]
        ctx.computed("closed opportunities", r["won"] + r["lost"], "won + lost")
        body = (
            f"{title}\n\n**{fmt_pct(r['win_rate_pct'])}**: {r['won']:,} won of {r['won'] + r['lost']:,} closed "
            f"opportunities [{res.citation}].\n\nWin rate = Won / (Won + Lost), closed opportunities only."
        )
    return SpecialistAnswer(AGENT, body, {"metric": "win_rate", "dimension": dim[0] if dim else None})


def closed_won_revenue(ctx: RunContext, query: str) -> SpecialistAnswer:
    """Sum of the amount column over won opportunities whose close date is in the period (USD)."""
    o, period, where, params = _won_in_period(ctx, query)
    total = ctx.sql(
        f"SELECT COUNT(*) AS deals, SUM({o.col('amount')}) AS revenue, MIN({o.col('close_date')}) AS first_close, "
        f"MAX({o.col('close_date')}) AS last_close FROM {o.sql_table} {where}",
        params,
        agent=AGENT,
        purpose="closed-won revenue",
    )
    monthly = ctx.sql(
        f"SELECT TO_CHAR(DATE_TRUNC('month', {o.col('close_date')}), 'YYYY-MM') AS month, COUNT(*) AS deals, "
        f"SUM({o.col('amount')}) AS revenue FROM {o.sql_table} {where} GROUP BY 1 ORDER BY 1",
        params,
        agent=AGENT,
        purpose="closed-won revenue by month",
    )
    r = total.rows[0]
    scope = period.describe() if period else "all time (no period in the question)"
    lines = [
        f"### Closed-won revenue, {scope}",
        "",
        f"**{fmt_usd(r['revenue'] or 0)}** from {r['deals']:,} won opportunities [{total.citation}]"
        + (f", as of {ctx.as_of.isoformat()}." if period else "."),
    ]
    if period and not period.complete:
        lines.append("The period is not over yet: this is the amount to date.")
    if monthly.rows and len(monthly.rows) <= 24:
        lines += ["", md_table(["Month", "Won deals", "Revenue"], [[m["month"], m["deals"], fmt_usd(m["revenue"])] for m in monthly.rows]), f"Monthly split [{monthly.citation}]."]
    return SpecialistAnswer(AGENT, "\n".join(lines), {"metric": "closed_won_revenue", "period": scope})


def top_accounts(ctx: RunContext, query: str) -> SpecialistAnswer:
    """Accounts ranked by closed-won revenue (USD); N from the question (default 10, max 50)."""
    m = re.search(r"\btop\s+(\d{1,2})\b", query, re.I)
    n = min(int(m.group(1)), 50) if m else 10
    o, period, where, params = _won_in_period(ctx, query)
    where += f" AND {o.col('account')} IS NOT NULL"
    params["n"] = n
    res = ctx.sql(
        f"SELECT {o.col('account')} AS account, COUNT(*) AS won_deals, SUM({o.col('amount')}) AS revenue "
        f"FROM {o.sql_table} {where} GROUP BY 1 ORDER BY revenue DESC, account LIMIT %(n)s",
        params,
        agent=AGENT,
        purpose="top accounts by closed-won revenue",
    )
    scope = period.describe() if period else "all time"
    table = md_table(["Account", "Won deals", "Closed-won revenue"], [[r["account"], r["won_deals"], fmt_usd(r["revenue"])] for r in res.rows])
    return SpecialistAnswer(AGENT, f"### Top {len(res.rows)} accounts by closed-won revenue, {scope}\n\n{table}\n\nSource [{res.citation}].", {"metric": "top_accounts"})


def average_deal_size(ctx: RunContext, query: str) -> SpecialistAnswer:
    """Mean amount of won opportunities (USD), with median and count."""
    o, period, where, params = _won_in_period(ctx, query)
    res = ctx.sql(
        f"SELECT COUNT(*) AS deals, ROUND(AVG({o.col('amount')}), 2) AS average, "
        f"PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY {o.col('amount')}) AS median FROM {o.sql_table} {where}",
        params,
        agent=AGENT,
        purpose="average won deal size",
    )
    r = res.rows[0]
    scope = period.describe() if period else "all time"
    return SpecialistAnswer(
        AGENT,
        f"### Average deal size, {scope}\n\nAverage won deal: **{fmt_usd(r['average'])}** (median {fmt_usd(r['median'])}) "
        f"over {r['deals']:,} won opportunities [{res.citation}].",
        {"metric": "average_deal_size"},
    )


def pipeline_by_stage(ctx: RunContext) -> SpecialistAnswer:
    """Open opportunities per stage with their value at product list price (USD): open deals have
    no amount in this CRM (semantic model)."""
    sm = ctx.semantic_model(agent=AGENT)
    o = sm.entity("opportunities")
    from_sql, cols = _opp_from(ctx, {"list_price"})
    res = ctx.sql(
        f"SELECT {o.col('stage', 'o')} AS stage, COUNT(*) AS opportunities, SUM({cols['list_price']}) AS list_value, "
        f"COUNT(*) FILTER (WHERE {o.col('account', 'o')} IS NULL) AS without_account "
        f"{from_sql} WHERE {o.col('stage', 'o')} = ANY(%(open)s) GROUP BY 1 ORDER BY 1",
        {"open": sm.stage_values("open")},
        agent=AGENT,
        purpose="open pipeline by stage",
    )
    table = md_table(
        ["Stage", "Open opportunities", "Value at list price", "Without account"],
        [[r["stage"], f"{r['opportunities']:,}", fmt_usd(r["list_value"]), f"{r['without_account']:,}"] for r in res.rows],
    )
    total = ctx.computed("open opportunities", sum(r["opportunities"] for r in res.rows), "sum over stages")
    value = ctx.computed("open value at list price", sum(float(r["list_value"] or 0) for r in res.rows), "sum over stages")
    return SpecialistAnswer(
        AGENT,
        f"### Open pipeline by stage\n\n{total:,} open opportunities worth {fmt_usd(value)} at list price [{res.citation}]. "
        f"Open deals carry no amount in the CRM, so value is the product's list price.\n\n{table}",
        {"metric": "pipeline_by_stage"},
    )


def competitor_mentions(ctx: RunContext) -> SpecialistAnswer:
    """Accounts whose call notes name a competitor (names and phrases from the KB's competitor list)."""
    rules = ctx.rules("competitors", agent=AGENT)
    sm = ctx.semantic_model(agent=AGENT)
    n = sm.entity("call_notes")
    names = [str(c) for c in rules.get("competitors", [])]
    phrases = names + [str(p) for p in rules.get("generic_phrases", [])]
    patterns = [f"%{p}%" for p in phrases]
    text = n.col("text")
    accounts = ctx.sql(
        f"SELECT {n.col('account')} AS account, COUNT(*) AS notes, COUNT(DISTINCT {n.col('contact')}) AS contacts, "
        f"MAX({n.col('date')}) AS last_mention FROM {n.sql_table} WHERE {text} ILIKE ANY(%(patterns)s) "
        f"GROUP BY 1 ORDER BY notes DESC, account",
        {"patterns": patterns},
        agent=AGENT,
        purpose="accounts with competitor mentions in call notes",
    )
    per_name = None
    if names:
        counts = ", ".join(f"COUNT(*) FILTER (WHERE {text} ILIKE %(c{i})s) AS c{i}" for i in range(len(names)))
        per_name = ctx.sql(
            f"SELECT {counts} FROM {n.sql_table}",
            {f"c{i}": f"%{name}%" for i, name in enumerate(names)},
            agent=AGENT,
            purpose="call notes naming each competitor",
        )
    ctx.computed("competitor mentions", [len(accounts.rows), sum(r["notes"] for r in accounts.rows), max(0, len(accounts.rows) - TABLE_ROWS)], "accounts, notes, accounts beyond the table")
    lines = [
        "### Accounts that mentioned competitors in call notes",
        "",
        f"**{len(accounts.rows)} accounts** have call notes mentioning a competitor, in "
        f"{sum(r['notes'] for r in accounts.rows):,} notes [{accounts.citation}].",
        "",
        md_table(
            ["Account", "Notes", "Contacts", "Last mention"],
            [[r["account"], r["notes"], r["contacts"], r["last_mention"].isoformat() if r["last_mention"] else "n/a"] for r in accounts.rows[:TABLE_ROWS]],
        ),
    ]
    if len(accounts.rows) > TABLE_ROWS:
        rest = accounts.rows[TABLE_ROWS:]
        lines += ["", f"Also ({len(rest)} more, fewer notes each): " + ", ".join(f"{r['account']} ({r['notes']})" for r in rest) + "."]
    if per_name and per_name.rows:
        row = per_name.rows[0]
        ranked = sorted(((names[i], row[f"c{i}"]) for i in range(len(names))), key=lambda x: -x[1])
        lines += ["", "Notes naming each competitor [" + str(per_name.citation) + "]: " + ", ".join(f"{k} {v}" for k, v in ranked) + "."]
    return SpecialistAnswer(AGENT, "\n".join(lines), {"metric": "competitor_mentions"})
