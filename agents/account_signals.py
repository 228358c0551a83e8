"""Account signals for customer health: churn risk (0-100, higher = riskier), segment and
expansion score, per account, read through the tenant's semantic model.

Every rule and parameter comes from the tenant's churn document (KB ``rule_set: churn``,
``knowledge/demo_docs/churn_risk.md``: segments, weights per segment, bands, signal windows,
interventions, expansion weights, the semantic-model names of the optional usage and contract
data) and, for ICP fit, from the ICP document (``rule_set: icp``, read as
``agents/playbooks/lead.py`` reads it). Data is read only through ``RunContext.semantic`` with
the model's metric and dimension names; an optional entity the model lacks (call notes, usage,
contracts, stages) makes its signal *missing*: the weights are renormalised over the signals
that are available and the answer says which signal was left out.

Signals, each normalised to 0-100 risk (formulas also in the churn document, "Signals"):

- **engagement** (call notes): mean of *trend risk* = percent decline of interactions in the
  last ``window_days`` vs the ``window_days`` before, clamped to 0-100 (100 when both windows are
  empty) and *recency risk* = 100 x days since the last interaction / ``recency_cap_days``,
  capped at 100 (100 with no interaction up to the as-of date).
- **business** (opportunities): mean of *win recency* = 100 x days since the last won
  opportunity / ``win_recency_cap_days`` (capped; 100 if never won), *loss rate* = lost /
  (won + lost) x 100 over the last ``loss_window_days`` (left out when nothing closed in the
  window) and *open pipeline* = 100 / (1 + open opportunities).
- **usage** (a usage metric by month, when the model declares it): percent decline of usage in
  the last ``usage_months`` complete months vs the ``usage_months`` before, clamped to 0-100
  (100 when both are zero).
- **contract** (a contract end date, when the model declares it): 0 when the next contract end
  is ``contract_horizon_days`` or more away, rising linearly to 100 at the end date; 100 when
  every contract has ended.

Churn risk = sum(weight x risk) / sum(weights) over the available signals of the account's
segment, rounded to the nearest whole point (halves up); band from the document's ``bands``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agents.runtime.context import QueryResult, RunContext, ToolError
from agents.semantic.query import Filter, OrderBy, SemanticQuery, TimeRange

SIGNALS = ("usage", "engagement", "business", "contract")
SIGNAL_LABELS = {"usage": "usage", "engagement": "engagement", "business": "business", "contract": "contract"}
EPOCH = dt.date(1900, 1, 1)


# -- the churn rule set ----------------------------------------------------------------------------


class _Rules(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class SignalParams(BaseModel):
    """Windows and caps of the signal formulas (days, months)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window_days: int = Field(90, ge=1)
    recency_cap_days: int = Field(180, ge=1)
    win_recency_cap_days: int = Field(365, ge=1)
    loss_window_days: int = Field(180, ge=1)
    usage_months: int = Field(3, ge=1, le=12)
    contract_horizon_days: int = Field(180, ge=1)


class ModelNames(BaseModel):
    """Names in the tenant's semantic model of the optional usage and contract data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    usage_metric: str = "usage"
    usage_date: str = "usage_month"
    contract_end: str = "contract_end"


class Band(BaseModel):
    """A churn band: scores up to ``max`` (inclusive) get ``label``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max: float = Field(ge=0, le=100)
    label: str


class ChurnAnalysisRules(_Rules):
    """The ``churn`` rule set (front matter of the churn document). Unknown keys are kept (editors
    may add notes). Raises pydantic ``ValidationError`` on a bad shape; each segment's weights
    must add up to 100 points, bands must increase and end at 100.

    Registration (``knowledge/validation.py``, per rule_set): ``"churn": ChurnAnalysisRules`` (or merge its
    extra fields into the knowledge.validation ChurnRules model).
    """

    segments: list[str] = Field(default_factory=lambda: ["Commit", "PLG", "Prospect"])
    weights: dict[str, dict[str, float]] = Field(min_length=1)
    bands: list[Band] = Field(min_length=1)
    signals: SignalParams = Field(default_factory=SignalParams)
    model_names: ModelNames = Field(default_factory=ModelNames)
    interventions: dict[str, str] = Field(default_factory=dict)
    expansion_weights: dict[str, float] = Field(default_factory=lambda: {"white_space": 50, "activity_growth": 20, "icp_fit": 30})

    @model_validator(mode="after")
    def _consistent(self) -> "ChurnAnalysisRules":
        for segment, weights in self.weights.items():
            unknown = set(weights) - set(SIGNALS)
            if unknown:
                raise ValueError(f"weights.{segment}: unknown signal(s) {sorted(unknown)}; known: {', '.join(SIGNALS)}")
            if any(w < 0 or w > 100 for w in weights.values()):
                raise ValueError(f"weights.{segment}: each weight must be from 0 to 100")
            if abs(sum(weights.values()) - 100) > 1e-9:
                raise ValueError(f"weights.{segment}: must add up to 100 points, got {sum(weights.values()):g}")
        maxes = [b.max for b in self.bands]
        if maxes != sorted(set(maxes)) or maxes[-1] != 100:
            raise ValueError("bands: 'max' must strictly increase and end at 100")
        return self

    def band(self, score: int) -> str:
        """Label of the first band whose ``max`` is >= ``score``."""
        return next(b.label for b in self.bands if score <= b.max)


def churn_rules(ctx: RunContext, *, agent: str) -> ChurnAnalysisRules:
    """The tenant's churn rules (cited). Raises ToolError when the document is missing or invalid."""
    params = plain(ctx.rules("churn", agent=agent, sections=("Signals", "Interventions")))
    try:
        return ChurnAnalysisRules.model_validate({k: v for k, v in params.items() if k not in ("kind", "title", "rule_set", "status", "tags")})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ToolError(f"the churn document is invalid: {where + ': ' if where else ''}{first['msg'].removeprefix('Value error, ')}") from exc


# -- helpers ---------------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """Front-matter parameters as plain dicts and lists (rule sets may come back as validated
    pydantic models with mapping-style access); other values unchanged."""
    if isinstance(value, BaseModel):
        extra = value.model_extra or {}
        given = set(value.model_fields_set) | set(extra)
        return {k: plain(getattr(value, k)) for k in (*type(value).model_fields, *extra) if k in given}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def round_half_up(value: float) -> int:
    """Nearest whole number, halves up (``62.5`` -> 63); the scores' rounding rule."""
    return int(math.floor(value + 0.5))


def clamp(value: float, low: float = 0.0, high: float = 100.0) -> float:
    """``value`` limited to [low, high]."""
    return max(low, min(high, value))


def decline_risk(recent: float, previous: float) -> float:
    """Percent decline of ``recent`` vs ``previous``, clamped to 0-100: 0 when flat or growing,
    100 when both are zero (nothing at all) or recent fell to zero."""
    if previous <= 0:
        return 100.0 if recent <= 0 else 0.0
    return clamp(100.0 * (previous - recent) / previous)


def change_pct(recent: float, previous: float) -> float | None:
    """Percent change ``(recent - previous) / previous x 100``; None when ``previous`` is 0."""
    return None if previous == 0 else 100.0 * (recent - previous) / previous


def _as_date(value: Any) -> dt.date | None:
    return value.date() if isinstance(value, dt.datetime) else value


def _month_add(day: dt.date, months: int) -> dt.date:
    total = day.year * 12 + day.month - 1 + months
    return dt.date(total // 12, total % 12 + 1, 1)


def usage_windows(as_of: dt.date, months: int) -> tuple[dt.date, dt.date, dt.date]:
    """``(previous_start, recent_start, end)`` of the usage trend: the last ``months`` complete
    calendar months up to ``as_of`` (the as-of month counts when ``as_of`` is its last day) and
    the ``months`` before them; ``end`` is the last day of the recent window."""
    last_full = _month_add(as_of.replace(day=1), 1) if (as_of + dt.timedelta(days=1)).day == 1 else as_of.replace(day=1)
    recent_start = _month_add(last_full, -months)
    return _month_add(recent_start, -months), recent_start, last_full - dt.timedelta(days=1)


# -- the data --------------------------------------------------------------------------------------


@dataclass
class AccountFacts:
    """What the signals need about one account (counts, dates; None = not known)."""

    name: str
    sector: str | None = None
    employees: int | None = None
    notes_recent: int = 0
    notes_previous: int = 0
    last_note: dt.date | None = None
    won_total: int = 0
    won_revenue: float = 0.0
    won_window: int = 0
    lost_window: int = 0
    last_win: dt.date | None = None
    open_deals: int = 0
    open_value: float | None = None
    usage_recent: float | None = None
    usage_previous: float | None = None
    contract_end: dt.date | None = None
    contract_ended: dt.date | None = None
    products: set[str] = field(default_factory=set)


@dataclass
class AccountData:
    """Facts of every account, the signals the tenant's model can feed, and the citations."""

    accounts: dict[str, AccountFacts]
    available: set[str]
    missing: dict[str, str]  # signal -> sentence saying what the model lacks
    refs: dict[str, int] = field(default_factory=dict)  # what -> citation ref
    products: dict[str, float | None] = field(default_factory=dict)  # product -> list price (USD)
    notes: list[str] = field(default_factory=list)  # caveats (truncation...)


def _last_dates(ctx: RunContext, *, agent: str, metric: str, date_dim: str, as_of: dt.date, filters: tuple[Filter, ...], wanted: set[str], purpose: str) -> tuple[dict[str, dt.date], list[int]]:
    """Latest ``date_dim`` per account with ``metric`` > 0 up to ``as_of``: grouped by (account,
    date) newest first; when the warehouse's row cap cuts the result, the accounts not yet seen
    are asked again (filtered to them), so every date is exact. Returns (dates, citation refs)."""
    found: dict[str, dt.date] = {}
    refs: list[int] = []
    remaining = set(wanted)
    for _ in range(5):
        extra = (Filter("account", tuple(sorted(remaining))),) if refs else ()
        res = ctx.semantic(
            SemanticQuery(
                metrics=(metric,), group_by=("account", date_dim),
                filters=(*filters, Filter(date_dim, (as_of,), op="lte"), *extra),
                period=TimeRange(EPOCH, as_of, f"up to {as_of.isoformat()}"),
                order=(OrderBy(date_dim, True),),
            ),
            agent=agent, purpose=purpose,
        )
        refs.append(res.citation)
        for r in res.rows:
            day = _as_date(r[date_dim])
            if r["account"] is None or day is None or not r[metric]:
                continue
            if r["account"] not in found:
                found[r["account"]] = day
        remaining -= set(found)
        if not res.truncated or not remaining:
            break
    return found, refs


def _by_account(res: QueryResult) -> dict[str, dict]:
    return {r["account"]: r for r in res.rows if r.get("account") is not None}


def account_data_load(ctx: RunContext, rules: ChurnAnalysisRules, *, agent: str, need_products: bool = False) -> AccountData:
    """Run the queries the signals need (all accounts at once, through the semantic model) and
    collect :class:`AccountFacts` per account. Signals whose data the model lacks are listed in
    ``missing`` with the reason. Raises ToolError when the model has no ``account`` dimension
    (nothing can be scored per account) or a query fails."""
    sm = ctx.semantic_model(agent=agent)
    if not sm.has_dimension("account"):
        raise ToolError("the semantic model has no 'account' dimension, so accounts cannot be scored")
    as_of, p = ctx.as_of, rules.signals
    firm_fields = [f for f in ("sector", "employees") if sm.has_dimension(f)]
    firm = ctx.rows_where(["account", *firm_fields], agent=agent, purpose="accounts and firmographics", order=[("account", False)])
    data = AccountData(accounts={}, available=set(), missing={}, refs={"accounts": firm.citation})
    if firm.truncated:
        data.notes.append(f"Only the first {len(firm.rows):,} accounts were scored (the warehouse row cap).")
    for r in firm.rows:
        if r["account"] is None:
            continue
        emp = r.get("employees")
        data.accounts[r["account"]] = AccountFacts(r["account"], sector=r.get("sector"), employees=int(emp) if emp is not None else None)
    names = set(data.accounts)

    def facts(name: str) -> AccountFacts | None:
        return data.accounts.get(name)

    # Engagement: call notes per account in two windows, and the last interaction.
    if sm.call_notes_missing() and not ("call_notes" in sm.metrics and sm.has_dimension("note_date")):
        data.missing["engagement"] = "This tenant's semantic model declares no call-notes entity (interactions), so engagement is unknown"
    else:
        w = p.window_days
        recent = TimeRange(as_of - dt.timedelta(days=w - 1), as_of, f"last {w} days")
        previous = TimeRange(as_of - dt.timedelta(days=2 * w - 1), as_of - dt.timedelta(days=w), f"the {w} days before")
        for label, period in (("notes_recent", recent), ("notes_previous", previous)):
            res = ctx.semantic(SemanticQuery(metrics=("call_notes",), group_by=("account",), period=period), agent=agent, purpose=f"call notes per account, {period.label} ({period.start.isoformat()} to {period.end.isoformat()})")
            data.refs[label] = res.citation
            for name, r in _by_account(res).items():
                if facts(name):
                    setattr(facts(name), label, int(r["call_notes"] or 0))
        last, refs = _last_dates(ctx, agent=agent, metric="call_notes", date_dim="note_date", as_of=as_of, filters=(), wanted=names, purpose="last interaction per account")
        data.refs.update({f"last_note{i or ''}": ref for i, ref in enumerate(refs)})
        for name, day in last.items():
            if facts(name):
                facts(name).last_note = day
        data.available.add("engagement")

    # Business: wins (ever and recently), losses, last win, open pipeline.
    needed = [m for m in ("won_deals", "lost_deals", "open_deals") if m not in sm.metrics]
    if sm.stages is None or needed or not sm.has_dimension("close_date"):
        what = ", ".join(needed) if needed else "stage semantics and a close date"
        data.missing["business"] = f"This tenant's semantic model lacks {what}, so business signals (wins, losses, open pipeline) are unknown"
    else:
        won_values = tuple(sm.stage_values("won"))
        metrics = ("won_deals", "won_revenue") if "won_revenue" in sm.metrics else ("won_deals",)
        life = ctx.semantic(SemanticQuery(metrics=metrics, group_by=("account",), period=TimeRange(EPOCH, as_of, f"up to {as_of.isoformat()}")), agent=agent, purpose="won opportunities per account up to the as-of date")
        data.refs["won_total"] = life.citation
        for name, r in _by_account(life).items():
            if facts(name):
                facts(name).won_total = int(r["won_deals"] or 0)
                facts(name).won_revenue = float(r.get("won_revenue") or 0)
        lw = p.loss_window_days
        window = TimeRange(as_of - dt.timedelta(days=lw - 1), as_of, f"last {lw} days")
        closed = ctx.semantic(SemanticQuery(metrics=("won_deals", "lost_deals"), group_by=("account",), period=window), agent=agent, purpose=f"won and lost opportunities per account, last {lw} days")
        data.refs["closed_window"] = closed.citation
        for name, r in _by_account(closed).items():
            if facts(name):
                facts(name).won_window, facts(name).lost_window = int(r["won_deals"] or 0), int(r["lost_deals"] or 0)
        winners = {n for n, f in data.accounts.items() if f.won_total}
        last, refs = _last_dates(ctx, agent=agent, metric="won_deals", date_dim="close_date", as_of=as_of, filters=(Filter(sm.stages.dimension, won_values),), wanted=winners, purpose="last won opportunity per account")
        data.refs.update({f"last_win{i or ''}": ref for i, ref in enumerate(refs)})
        for name, day in last.items():
            if facts(name):
                facts(name).last_win = day
        open_metrics = ("open_deals", "pipeline_value") if "pipeline_value" in sm.metrics else ("open_deals",)
        opened = ctx.semantic(SemanticQuery(metrics=open_metrics, group_by=("account",)), agent=agent, purpose="open opportunities per account (snapshot)")
        data.refs["open"] = opened.citation
        for name, r in _by_account(opened).items():
            if facts(name):
                facts(name).open_deals = int(r["open_deals"] or 0)
                facts(name).open_value = float(r["pipeline_value"]) if r.get("pipeline_value") is not None else None
        data.available.add("business")

    # Usage (optional entity): monthly usage metric, two windows of complete months.
    names_cfg = rules.model_names
    if names_cfg.usage_metric in sm.metrics and names_cfg.usage_date in sm.time_dimensions:
        prev_start, recent_start, end = usage_windows(as_of, p.usage_months)
        res = ctx.semantic(
            SemanticQuery(metrics=(names_cfg.usage_metric,), group_by=("account",), grain="month", period=TimeRange(prev_start, end, f"{prev_start.isoformat()} to {end.isoformat()}", time_dimension=names_cfg.usage_date)),
            agent=agent, purpose=f"{sm.metric_label(names_cfg.usage_metric)} per account by month",
        )
        data.refs["usage"] = res.citation
        for r in res.rows:
            f_ = facts(r["account"]) if r.get("account") else None
            if f_ is None:
                continue
            month, value = _as_date(r["period"]), float(r[names_cfg.usage_metric] or 0)
            key = "usage_recent" if month >= recent_start else "usage_previous"
            setattr(f_, key, (getattr(f_, key) or 0.0) + value)
        for f_ in data.accounts.values():
            if f_.usage_recent is not None or f_.usage_previous is not None:
                f_.usage_recent, f_.usage_previous = f_.usage_recent or 0.0, f_.usage_previous or 0.0
        data.available.add("usage")
    else:
        data.missing["usage"] = f"This tenant's semantic model declares no usage entity (no '{names_cfg.usage_metric}' metric by '{names_cfg.usage_date}'), so usage is unknown"

    # Contract (optional entity): end dates per account.
    if names_cfg.contract_end in sm.time_dimensions:
        res = ctx.rows_where(["account", names_cfg.contract_end], agent=agent, purpose="contract end dates per account", order=[(names_cfg.contract_end, False)])
        data.refs["contract"] = res.citation
        for r in res.rows:
            f_ = facts(r["account"]) if r.get("account") else None
            end_day = _as_date(r[names_cfg.contract_end])
            if f_ is None or end_day is None:
                continue
            if end_day >= as_of:
                f_.contract_end = min(f_.contract_end or end_day, end_day)
            else:
                f_.contract_ended = max(f_.contract_ended or end_day, end_day)
        data.available.add("contract")
    else:
        data.missing["contract"] = f"This tenant's semantic model declares no contract entity (no '{names_cfg.contract_end}' date), so contract timing is unknown"

    if need_products and sm.has_dimension("product") and sm.stages is not None and "won_deals" in sm.metrics:
        bought = ctx.semantic(
            SemanticQuery(metrics=("won_deals",), group_by=("account", "product"), filters=(Filter(sm.stages.dimension, tuple(sm.stage_values("won"))),), period=TimeRange(EPOCH, as_of, f"up to {as_of.isoformat()}")),
            agent=agent, purpose="products won per account up to the as-of date",
        )
        data.refs["products_bought"] = bought.citation
        for r in bought.rows:
            if r.get("account") in data.accounts and r.get("product") and r["won_deals"]:
                data.accounts[r["account"]].products.add(r["product"])
        fields = ["product", "list_price"] if sm.has_dimension("list_price") else ["product"]
        catalogue = ctx.rows_where(fields, agent=agent, purpose="product catalogue")
        data.refs["products"] = catalogue.citation
        data.products = {r["product"]: (float(r["list_price"]) if r.get("list_price") is not None else None) for r in catalogue.rows if r["product"]}
    return data


# -- scores ----------------------------------------------------------------------------------------


@dataclass
class Signal:
    """One signal of one account: ``risk`` 0-100 and the values it came from (``detail``)."""

    name: str
    risk: float
    detail: str
    parts: dict[str, float] = field(default_factory=dict)


@dataclass
class ChurnScore:
    """Churn risk of one account. ``score`` None when no weighted signal is available."""

    account: str
    segment: str
    score: int | None
    band: str
    signals: list[Signal]
    weights: dict[str, float]  # renormalised weights (sum 1) of the signals used
    left_out: list[str]  # signals with weight for this segment but no data for the tenant

    def drivers(self, n: int = 2) -> list[tuple[Signal, float]]:
        """The ``n`` signals contributing most points (weight x risk), largest first."""
        scored = [(s, self.weights.get(s.name, 0) * s.risk) for s in self.signals if s.name in self.weights]
        return sorted(scored, key=lambda t: (-t[1], t[0].name))[:n]


def segment_of(f: AccountFacts, data: AccountData) -> str:
    """Segment per the churn document: Commit = a won opportunity up to the as-of date; PLG = no
    won opportunity but usage recorded (only when the model declares usage); Prospect = neither."""
    if f.won_total > 0:
        return "Commit"
    if "usage" in data.available and ((f.usage_recent or 0) + (f.usage_previous or 0)) > 0:
        return "PLG"
    return "Prospect"


def _days(a: dt.date, b: dt.date | None) -> int | None:
    return None if b is None else (a - b).days


def signals_of(f: AccountFacts, data: AccountData, rules: ChurnAnalysisRules, as_of: dt.date) -> list[Signal]:
    """The available signals of one account (formulas: module docstring and churn document)."""
    p = rules.signals
    out: list[Signal] = []
    if "engagement" in data.available:
        trend = decline_risk(f.notes_recent, f.notes_previous)
        days = _days(as_of, f.last_note)
        recency = 100.0 if days is None else clamp(100.0 * days / p.recency_cap_days)
        last = f"last on {f.last_note.isoformat()} ({days} days ago)" if f.last_note else "no interaction on record"
        out.append(Signal("engagement", (trend + recency) / 2, f"{f.notes_recent} interactions in the last {p.window_days} days vs {f.notes_previous} in the {p.window_days} before, {last}", {"trend": trend, "recency": recency}))
    if "business" in data.available:
        days = _days(as_of, f.last_win)
        parts = {"win_recency": 100.0 if days is None else clamp(100.0 * days / p.win_recency_cap_days)}
        closed = f.won_window + f.lost_window
        if closed:
            parts["loss_rate"] = 100.0 * f.lost_window / closed
        parts["open_pipeline"] = 100.0 / (1 + f.open_deals)
        last = f"last win {f.last_win.isoformat()} ({days} days ago)" if f.last_win else "never won"
        out.append(Signal("business", sum(parts.values()) / len(parts), f"{last}, {f.lost_window} lost of {closed} closed in the last {p.loss_window_days} days, {f.open_deals} open opportunities", parts))
    if "usage" in data.available:
        if f.usage_recent is None:
            out.append(Signal("usage", 100.0, "no usage recorded", {"decline": 100.0}))
        else:
            risk = decline_risk(f.usage_recent, f.usage_previous or 0)
            ch = change_pct(f.usage_recent, f.usage_previous or 0)
            change = f" ({ch:+.1f}%)" if ch is not None else ""
            out.append(Signal("usage", risk, f"{f.usage_recent:,.0f} units in the last {p.usage_months} months vs {f.usage_previous:,.0f} in the {p.usage_months} before{change}", {"decline": risk}))
    if "contract" in data.available:
        if f.contract_end is not None:
            left = (f.contract_end - as_of).days
            risk = clamp(100.0 * (1 - left / p.contract_horizon_days))
            out.append(Signal("contract", risk, f"contract ends {f.contract_end.isoformat()} ({left} days away)", {"renewal": risk}))
        elif f.contract_ended is not None:
            out.append(Signal("contract", 100.0, f"contract ended {f.contract_ended.isoformat()}", {"renewal": 100.0}))
        else:
            out.append(Signal("contract", 100.0, "no contract on record", {"renewal": 100.0}))
    return out


def churn_score(f: AccountFacts, data: AccountData, rules: ChurnAnalysisRules, as_of: dt.date) -> ChurnScore:
    """Churn risk of one account: weights of its segment renormalised over the available signals,
    score = sum(weight x risk) rounded half up, band from the document (see module docstring)."""
    segment = segment_of(f, data)
    weights = rules.weights.get(segment) or {}
    sigs = signals_of(f, data, rules, as_of)
    have = {s.name for s in sigs}
    used = {k: w for k, w in weights.items() if w > 0 and k in have}
    left_out = [k for k, w in weights.items() if w > 0 and k not in have]
    total = sum(used.values())
    if not total:
        return ChurnScore(f.name, segment, None, "n/a", sigs, {}, left_out)
    norm = {k: w / total for k, w in used.items()}
    raw = sum(norm[s.name] * s.risk for s in sigs if s.name in norm)
    score = round_half_up(raw)
    return ChurnScore(f.name, segment, score, rules.band(score), sigs, norm, left_out)


# -- expansion -------------------------------------------------------------------------------------


@dataclass
class Expansion:
    """Expansion score of one account (0-100, higher = more potential) and its reasons."""

    account: str
    score: int | None
    parts: dict[str, float]  # white_space, activity_growth, icp_fit (0-100 each, known ones)
    white_space: list[tuple[str, int, int]]  # (product not bought, similar accounts that bought it, similar accounts)
    peer_basis: str  # how similar accounts were chosen
    activity_change: float | None  # percent change of interactions, last window vs the one before


def employee_band(employees: int | None, icp: dict) -> dict | None:
    """The ICP document's employee band of a head count (first band whose ``min`` it reaches)."""
    if employees is None:
        return None
    return next((b for b in sorted(icp.get("employee_bands", []), key=lambda b: -b["min"]) if employees >= b["min"]), None)


def icp_company_score(f: AccountFacts, icp: dict) -> float | None:
    """Company score of the ICP document (0-1): mean of the industry score and the employee-band
    score, the known ones (as ``agents/playbooks/lead.py`` computes it); None when neither."""
    sector_raw = (f.sector or "").strip().lower()
    sector = (icp.get("industry_aliases") or {}).get(sector_raw, sector_raw)
    industries = icp.get("industries") or {}
    industry = float(industries[sector]) if sector in industries else (0.0 if sector else None)
    band = employee_band(f.employees, icp)
    parts = [x for x in (industry, float(band["score"]) if band else None) if x is not None]
    return sum(parts) / len(parts) if parts else None


def expansion_score(f: AccountFacts, data: AccountData, rules: ChurnAnalysisRules, icp: dict) -> Expansion:
    """Expansion score: weighted mean (churn document ``expansion_weights``) of the known parts:

    - white space = highest share (percent) of similar accounts that bought a product this account
      has not bought; similar = same sector and ICP employee band, or the same sector when no
      account shares both (the answer says which);
    - activity growth = percent growth of interactions (last window vs the one before), clamped
      to 0-100 (100 when the earlier window was empty and the recent one is not);
    - ICP fit = 100 x the ICP company score.
    Rounded half up; None when no part is known."""
    parts: dict[str, float] = {}
    white: list[tuple[str, int, int]] = []
    basis = ""
    if data.products and f.sector is not None:
        band = employee_band(f.employees, icp)
        same_sector = [o for o in data.accounts.values() if o.name != f.name and o.sector == f.sector]
        peers = [o for o in same_sector if employee_band(o.employees, icp) == band] if band else []
        basis = f"{f.sector}, {band['label']} employees" if peers and band else f"{f.sector} sector"
        peers = peers or same_sector
        if peers:
            not_bought = [p for p in data.products if p not in f.products]
            for product in not_bought:
                k = sum(1 for o in peers if product in o.products)
                white.append((product, k, len(peers)))
            white.sort(key=lambda t: (-t[1], t[0]))
            parts["white_space"] = max((100.0 * k / n for _, k, n in white), default=0.0)
    activity = None
    if "engagement" in data.available:
        activity = change_pct(f.notes_recent, f.notes_previous)
        if f.notes_previous == 0:
            parts["activity_growth"] = 100.0 if f.notes_recent > 0 else 0.0
        else:
            parts["activity_growth"] = clamp(activity or 0.0)
    company = icp_company_score(f, icp)
    if company is not None:
        parts["icp_fit"] = 100.0 * company
    weights = {k: float(rules.expansion_weights.get(k, 0)) for k in parts}
    total = sum(weights.values())
    score = round_half_up(sum(weights[k] * v for k, v in parts.items()) / total) if total else None
    return Expansion(f.name, score, parts, [w for w in white if w[1] > 0], basis, activity)
