"""Scoring of the evaluation harness (numbers, names, decline words, interpreted-as signatures,
threads, totals) and the shape of the compositional set, without running the pipeline.

Expected figures checked here are recomputed from the CRM CSV files with the standard library."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from agents.evaluation import (
    EvalFileError,
    EvalRow,
    eval_load,
    eval_summary,
    score_answer,
    score_decline,
    score_interpretation,
    score_run,
    thread_keys,
)
from agents.models import Run
from agents.semantic.query import Filter, OrderBy, SemanticQuery, TimeRange
from agents.tests.conftest import read_csv

EVALS = Path(__file__).resolve().parents[1] / "evals"
SEMANTIC_EVAL = EVALS / "semantic.yaml"
TIGHT = {"relative": 0.001, "absolute": 0.1}


def _query(**kw) -> dict:
    return SemanticQuery(**kw).as_dict()


WIN_RATE_BY_OFFICE_Q1 = _query(
    metrics=("win_rate",),
    group_by=("office",),
    filters=(Filter("product", ("GTX Pro",)),),
    period=TimeRange(dt.date(2025, 1, 1), dt.date(2025, 3, 31), "Q1 2025"),
    order=(OrderBy("win_rate", True),),
    limit=1,
)


# ---------------------------------------------------------------- numbers and names
def test_numbers_default_tolerance_is_one_percent():
    assert score_answer("Win rate 63.4% for Central.", numbers=[63.2], names=["central"]) == []
    assert score_answer("Win rate 60.0%.", numbers=[63.2], names=["East"]) == ["63.2", "East"]


def test_numbers_tight_tolerance_separates_close_groups():
    answer = "Win rate by office: West 63.9%, East 63.0%, Central 62.6%."
    assert score_answer(answer, numbers=[63.9, 63.0, 62.6], names=["West", "east", "CENTRAL"], tolerance=TIGHT) == []
    # 63.4 is within 1% of 63.0 but not within 0.1 points: the tight rule misses it
    assert score_answer("East 63.4%", numbers=[63.0], names=[]) == []
    assert score_answer("East 63.4%", numbers=[63.0], names=[], tolerance=TIGHT) == ["63.0"]


def test_numbers_usd_with_separators_and_suffixes():
    assert score_answer("Revenue was $3,061,111 (1,277 deals).", numbers=[3061111, 1277], names=[], tolerance=TIGHT) == []
    assert score_answer("Revenue was $3.1M.", numbers=[3061111], names=[], tolerance=TIGHT) == ["3061111"]
    assert score_answer("Average deal $2,360.51", numbers=[2361], names=[], tolerance=TIGHT) == []


def test_names_are_case_insensitive_substrings():
    assert score_answer("Top: darcel schlecht", numbers=[], names=["Darcel Schlecht", "GTX Pro"]) == ["GTX Pro"]


# ---------------------------------------------------------------- declines
def test_decline_needs_declined_status_and_every_word():
    declined = {"status": "declined", "semantic_query": None, "unmapped": ["campaign"]}
    text = "I can't answer that: **campaign** is not in the semantic model (it has office, product, sector...)."
    assert score_decline(text, interpretation=declined, words=["Campaign"]) == []
    assert score_decline(text, interpretation=declined, words=["campaign", "marketing"]) == ["marketing"]
    assert score_decline(text, interpretation={"status": "answered"}, words=["campaign"]) == ["answered"]
    assert score_decline(text, interpretation={}, words=["campaign"]) == ["answered"]


def _run(answer: str, interpretation: dict, status: str = "succeeded", route=("data",)) -> Run:
    return Run(answer_markdown=answer, interpretation=interpretation, status=status, route=list(route), usage={}, grounding={"unmatched": []})


def test_answerable_question_declined_is_wrong_even_with_the_figures():
    item = {"question": "Win rate?", "route": ["data"], "numbers": [63.2], "names": []}
    run = _run("Win rate 63.2%, but campaign is unknown.", {"status": "declined", "unmapped": ["campaign"]})
    row = score_run(item, run, tolerance=TIGHT)
    assert row.kind == "answer" and not row.answer_ok and row.missing == ["declined (campaign)"] and row.decline_ok is None


def test_out_of_scope_question_answered_is_wrong():
    item = {"question": "Win rate by campaign?", "route": ["data"], "decline": ["campaign"]}
    row = score_run(item, _run("Win rate 63.2% (campaign ignored).", {"status": "answered", "semantic_query": WIN_RATE_BY_OFFICE_Q1}))
    assert row.kind == "decline" and row.decline_ok is False and row.answer_ok is False and row.missing == ["answered"]
    row = score_run(item, _run("No campaign data: not in the model.", {"status": "declined", "semantic_query": None}))
    assert row.decline_ok is True and row.answer_ok is True and row.interpreted_ok is None


def test_failed_run_is_never_correct():
    item = {"question": "Win rate by campaign?", "route": ["data"], "decline": ["campaign"]}
    assert score_run(item, _run("campaign", {"status": "declined"}, status="failed")).decline_ok is False


# ---------------------------------------------------------------- interpreted as
def test_interpretation_matches_on_the_given_keys_only():
    expected = {
        "metrics": ["win_rate"],
        "group_by": ["office"],
        "filters": [["product", "in", ["gtx pro"]]],
        "period": ["2025-01-01", "2025-03-31"],
        "limit": 1,
        "desc": True,
    }
    assert score_interpretation({"status": "answered", "semantic_query": WIN_RATE_BY_OFFICE_Q1}, expected) == []
    # keys the expectation leaves out are not compared (here: the ranking)
    assert score_interpretation({"semantic_query": WIN_RATE_BY_OFFICE_Q1}, {"metrics": ["win_rate"], "group_by": ["office"]}) == []


def test_interpretation_names_each_difference():
    expected = {"metrics": ["win_rate"], "group_by": ["product"], "filters": [], "period": None, "compare": None, "grain": None}
    diff = score_interpretation({"semantic_query": WIN_RATE_BY_OFFICE_Q1}, expected)
    assert diff == [
        "group_by: expected ['product'], got ['office']",
        "filters: expected [], got [['product', 'in', ['gtx pro']]]",
        "period: expected None, got ['2025-01-01', '2025-03-31']",
    ]


def test_interpretation_missing_or_malformed_is_a_difference():
    assert score_interpretation({"status": "declined", "semantic_query": None}, {"metrics": ["win_rate"]}) == [
        "no semantic query recorded (interpretation status declined)"
    ]
    assert score_interpretation({}, {"metrics": ["win_rate"]}) == ["no semantic query recorded (interpretation status none)"]
    assert score_interpretation({"semantic_query": {"filters": [{"values": []}]}}, {"metrics": []})[0].startswith("malformed semantic query")


def test_filter_values_compare_lowercased_and_unordered():
    got = _query(metrics=("won_revenue",), group_by=("product",), filters=(Filter("product", ("MG Advanced", "GTX Pro")),))
    expected = {"filters": [["product", "in", ["gtx pro", "mg advanced"]]], "group_by": ["product"]}
    assert score_interpretation({"semantic_query": got}, expected) == []


def test_score_run_records_interpretation_and_thread():
    item = {
        "question": "same for the East office",
        "route": ["data"],
        "numbers": [67.0],
        "names": ["GTX Pro"],
        "thread": "t1",
        "interpreted_as": {"metrics": ["win_rate"], "group_by": ["office"]},
    }
    row = score_run(item, _run("GTX Pro 67.0%", {"status": "answered", "semantic_query": WIN_RATE_BY_OFFICE_Q1}), tolerance=TIGHT)
    assert row.answer_ok and row.interpreted_ok and row.thread == "t1" and row.interpretation_status == "answered"


# ---------------------------------------------------------------- threads and totals
def test_thread_keys_group_turns_and_differ_between_runs():
    questions = [{"question": "a", "thread": "t1"}, {"question": "b"}, {"question": "c", "thread": "t1"}, {"question": "d", "thread": 2}]
    keys = thread_keys(questions, nonce="n1")
    assert keys[0] == keys[2] != "" and keys[1] == "" and keys[3] not in ("", keys[0])
    assert set(thread_keys(questions, nonce="n2")).isdisjoint(set(keys) - {""})


def _row(kind="answer", ok=True, interpreted=None, latency=10, grounded=True) -> EvalRow:
    return EvalRow(
        question="q", route_ok=True, answer_ok=ok, grounded=grounded, missing=[], route=["data"], tokens=5,
        latency_ms=latency, status="succeeded", kind=kind, decline_ok=ok if kind == "decline" else None, interpreted_ok=interpreted,
    )  # fmt: skip


def test_summary_separates_answerable_declines_and_interpretations():
    rows = [_row(ok=True, interpreted=True, latency=10), _row(ok=False, interpreted=False, latency=30), _row(ok=True, latency=20)]
    rows += [_row("decline", ok=True, latency=40), _row("decline", ok=False, latency=1000, grounded=False)]
    s = eval_summary(rows)
    assert (s.answerable, s.answers_ok, s.declines, s.declines_ok, s.interpreted, s.interpreted_ok) == (3, 2, 2, 1, 2, 1)
    assert s.answer_accuracy == pytest.approx(2 / 3) and s.decline_accuracy == 0.5 and s.interpreted_accuracy == 0.5
    assert s.strict_ok == 2  # right answer with a right (or unchecked) interpretation
    assert eval_summary([_row(ok=True, interpreted=False)]).strict_accuracy == 0.0
    assert s.grounding_rate == 0.8 and s.tokens == 25 and s.latency_p50_ms == 30 and s.latency_p95_ms == 1000
    assert eval_summary([_row()]).decline_accuracy is None


# ---------------------------------------------------------------- files
def test_eval_load_rejects_malformed_items(tmp_path):
    cases = {
        "decline: campaign": "'decline' must be a non-empty list",
        "decline: [campaign]\n    numbers: [1]": "a decline expects no numbers",
        "interpreted_as: {metric: [win_rate]}": "'interpreted_as' must be a mapping",
        "thread: [1]": "'thread' must be an id",
    }
    for extra, message in cases.items():
        path = tmp_path / "bad.yaml"
        path.write_text(f"questions:\n  - question: Win rate by campaign?\n    {extra}\n")
        with pytest.raises(EvalFileError, match=message):
            eval_load(path)
    path.write_text("tolerance: {relative: -1}\nquestions:\n  - question: x\n")
    with pytest.raises(EvalFileError, match="tolerance"):
        eval_load(path)


def test_demo_set_keeps_its_format():
    data = eval_load(EVALS / "demo.yaml")
    assert len(data["questions"]) == 27 and "tolerance" not in data
    assert not any({"decline", "interpreted_as", "thread"} & set(q) for q in data["questions"])


def test_semantic_set_shape():
    data = eval_load(SEMANTIC_EVAL)
    qs = data["questions"]
    answerable = [q for q in qs if "decline" not in q]
    declines = [q for q in qs if "decline" in q]
    assert len(answerable) >= 80 and len(declines) >= 15
    threads: dict[str, list] = {}
    for q in qs:
        if "thread" in q:
            threads.setdefault(q["thread"], []).append(q)
    assert len(threads) >= 5 and all(2 <= len(t) <= 3 for t in threads.values())
    assert all(q["interpreted_as"] and q["numbers"] for q in answerable)
    assert all(not q.get("numbers") and "interpreted_as" not in q for q in declines)
    # every expected signature is one a SemanticQuery can produce (same keys, same normal form)
    for q in answerable:
        exp = q["interpreted_as"]
        sq = SemanticQuery(
            metrics=tuple(exp["metrics"]),
            group_by=tuple(exp["group_by"]),
            filters=tuple(Filter(d, tuple(v), op) for d, op, v in exp["filters"]),
            period=TimeRange(dt.date.fromisoformat(exp["period"][0]), dt.date.fromisoformat(exp["period"][1])) if exp["period"] else None,
            compare=TimeRange(dt.date.fromisoformat(exp["compare"][0]), dt.date.fromisoformat(exp["compare"][1])) if exp["compare"] else None,
            grain=exp["grain"],
            order=(OrderBy(exp["metrics"][0], exp["desc"]),) if "limit" in exp else (),
            limit=exp.get("limit"),
        )
        assert score_interpretation({"semantic_query": sq.as_dict()}, exp) == [], q["question"]


def _d(text: str) -> dt.date:
    m, d, y = map(int, text.split("/"))
    return dt.date(y, m, d)


def test_semantic_set_figures_match_the_csv_files():
    """A few expectations recomputed here, independently of the generator."""
    by_q = {q["question"]: q for q in yaml.safe_load(SEMANTIC_EVAL.read_text())["questions"] if "thread" not in q}
    pipe = read_csv("sales_pipeline")
    office = {r["sales_agent"]: r["regional_office"] for r in read_csv("sales_teams")}
    price = {r["product_id"]: int(r["sales_price"]) for r in read_csv("products")}
    central_pipeline = sum(price[r["product_id"]] for r in pipe if r["deal_stage"] in ("Prospecting", "Engaging") and office[r["sales_agent"]] == "Central")
    assert by_q["What is the open pipeline for the Central office?"]["numbers"] == [central_pipeline]
    q1 = [r for r in pipe if r["close_date"] and dt.date(2025, 1, 1) <= _d(r["close_date"]) <= dt.date(2025, 3, 31)]
    assert by_q["How many deals did we win last quarter?"]["numbers"] == [sum(r["deal_stage"] == "Won" for r in q1)]
    gtx_pro = [r for r in pipe if r["product_id"] == "2" and r["deal_stage"] in ("Won", "Lost")]  # GTX Pro, 'GTXPro' in the text column
    assert by_q["Win rate for GTXPro deals"]["numbers"] == [round(100 * sum(r["deal_stage"] == "Won" for r in gtx_pro) / len(gtx_pro), 1)]
    won_ty = [r for r in pipe if r["deal_stage"] == "Won" and dt.date(2025, 1, 1) <= _d(r["close_date"]) <= dt.date(2025, 6, 30)]
    cycle = sum((_d(r["close_date"]) - _d(r["engage_date"])).days for r in won_ty) / len(won_ty)
    assert by_q["What was our average sales cycle this year?"]["numbers"] == [round(cycle, 1)]


def test_semantic_set_is_regenerated_identically(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_semantic_eval", EVALS / "make_semantic_eval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "semantic.yaml"
    monkeypatch.setattr(module, "OUT", out)
    module.main()
    first = out.read_text()
    module.main()
    assert out.read_text() == first == SEMANTIC_EVAL.read_text()
