"""The compositional evaluation set (agents/evals/semantic.yaml: metrics x breakdowns x filters x
periods, rankings, comparisons, follow-ups, out-of-scope questions) on two tenants of different
warehouse shapes, offline. Expected figures and interpretations come from the CSV files
(agents/evals/make_semantic_eval.py), never from the code under test.

Thresholds (issue 8): answer accuracy >= 95%, decline accuracy 100%, and no answered question read
differently from what was asked (an answered question whose recorded semantic query differs from
the expected one is a silently dropped filter, breakdown or period).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.evaluation import eval_load, eval_run, eval_summary

EVALS = Path(__file__).resolve().parents[1] / "evals"
# semantic.yaml: the compositional set; semantic_holdout.yaml: written later by someone who had not
# seen the parser (first run: 70% answers, 70% declines; the gaps it showed were then fixed).
SETS = [EVALS / "semantic.yaml", EVALS / "semantic_holdout.yaml"]


def _report(rows) -> str:
    bad = [r for r in rows if not (r.answer_ok if r.kind == "answer" else r.decline_ok) or r.interpreted_ok is False]
    return "\n".join(f"{r.kind} {r.question!r}: missing {r.missing} {r.interpretation_diff}" for r in bad)


def _assert_meets_the_bar(rows, *, minimum: tuple[int, int]) -> None:
    summary = eval_summary(rows)
    assert summary.answerable >= minimum[0] and summary.declines >= minimum[1]
    assert summary.answers_ok >= 0.95 * summary.answerable, _report(rows)
    assert summary.declines_ok == summary.declines, _report(rows)
    silently_different = [r.question for r in rows if r.kind == "answer" and r.interpretation_status == "answered" and r.interpreted_ok is False]
    assert not silently_different, _report(rows)
    assert summary.grounded == summary.questions, _report(rows)


def _minimum(path: Path) -> tuple[int, int]:
    return (80, 15) if path.name == "semantic.yaml" else (30, 8)


@pytest.mark.parametrize("path", SETS, ids=lambda p: p.stem)
def test_demo_tenant_answers_the_compositional_set(demo, path):
    rows = eval_run(tenant=demo.tenant, data=eval_load(path))
    _assert_meets_the_bar(rows, minimum=_minimum(path))


@pytest.mark.parametrize("path", SETS, ids=lambda p: p.stem)
def test_salesforce_shaped_tenant_onboarded_by_draft_passes_the_same_set(sfdc, path):
    """Foreign-key ids, names in user and account tables, other stage labels and a product-name
    variant; onboarded only by ``semantic_model_draft --publish`` plus the edits document."""
    rows = eval_run(tenant=sfdc.tenant, data=eval_load(path))
    _assert_meets_the_bar(rows, minimum=_minimum(path))
