"""The grounding check and the evaluation command."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from agents.evaluation import eval_load, eval_run, score_answer
from agents.runtime.grounding import GroundingSources, caveat, check

DEMO_EVAL = Path(__file__).resolve().parents[1] / "evals" / "demo.yaml"


def _sources(*values) -> GroundingSources:
    s = GroundingSources()
    s.add_all(values)
    return s


@pytest.mark.parametrize(
    "answer, unmatched",
    [
        ("Revenue was **$3,061,111** [2].", []),
        ("Win rate 63.4% over 6,711 deals.", []),  # 0.634 as a fraction, 6711 as an integer
        ("About $3.1M booked.", []),
        ("Closed on 2025-03-31.", []),
        ("Revenue was $3,061,112.", ["$3,061,112"]),
        ("Win rate 71.0%.", ["71.0%"]),
        ("Closed on 2025-04-01.", ["2025-04-01"]),
        ("Top 3 risks, 2 of them new.", []),  # small counts are exempt
        ("We have 12 reps.", ["12"]),
    ],
)
def test_numbers_are_traced_to_sources(answer, unmatched):
    sources = _sources([{"revenue": 3061111, "deals": 6711}], 0.6342, dt.date(2025, 3, 31))
    assert check(answer, sources).unmatched == unmatched


def test_sources_footer_and_citations_are_not_checked():
    result = check("Value 5 [17].\n\n#### Sources\n\n[1] warehouse query (999 rows; step 42)", _sources(5))
    assert result.unmatched == [] and result.checked == 1


def test_caveat_lists_unmatched_once():
    text = caveat(check("A $10 and $10 and $11.", _sources(1)))
    assert text.count("$10") == 1 and "$11" in text and "unverified" in text


def test_score_answer_within_one_percent():
    assert score_answer("Win rate 63.4% for Central.", numbers=[63.2], names=["central"]) == []
    assert score_answer("Win rate 60.0%.", numbers=[63.2], names=["East"]) == ["63.2", "East"]


def test_demo_eval_set_offline_all_correct_and_grounded(demo):
    rows = eval_run(tenant=demo.tenant, data=eval_load(DEMO_EVAL))
    assert len(rows) >= 25
    failures = [(r.question, r.route, r.missing) for r in rows if not (r.route_ok and r.answer_ok and r.grounded)]
    assert failures == []


def test_eval_command_prints_totals(demo, tmp_path):
    path = tmp_path / "mini.yaml"
    path.write_text("as_of: '2025-06-30'\nquestions:\n  - question: What is our overall win rate?\n    route: [data]\n    numbers: [12.3]\n")
    out = StringIO()
    call_command("eval", "--tenant", "demo", str(path), stdout=out)
    text = out.getvalue()
    assert "routing accuracy 1/1 (100%)" in text and "answer accuracy 0/1 (0%)" in text and "missing: 12.3" in text


def test_eval_command_rejects_bad_files(demo, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("just: text\n")
    with pytest.raises(CommandError, match="questions"):
        call_command("eval", "--tenant", "demo", str(bad), stdout=StringIO())
    with pytest.raises(CommandError, match="unknown tenant"):
        call_command("eval", "--tenant", "nope", str(bad), stdout=StringIO())
