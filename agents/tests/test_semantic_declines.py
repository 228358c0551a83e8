"""A data question about a period after the as-of date ("next quarter") is declined with nothing
computed, and the decline says why and points to the forecast."""

from __future__ import annotations

import pytest

from agents.tests.runs import ask


@pytest.mark.parametrize("question, phrase, unit", [
    ("How many deals did we win next quarter?", "next quarter", "quarter"),
    ("closed-won revenue in the coming quarter", "coming quarter", "quarter"),
    ("Won revenue next month by office", "next month", "month"),
])
def test_a_future_period_is_declined_with_the_reason_and_the_forecast_pointer(demo, question, phrase, unit):
    run = ask(demo.tenant, question)
    md = run.answer_markdown
    assert run.status == "succeeded", run.error
    assert run.route == ["data"], run.route
    assert "I could not answer this as asked" in md
    assert f"“{phrase}” is after the as-of date (2025-06-30)" in md
    assert f"“What is the forecast for next {unit}?”" in md
    assert not run.steps.filter(name="warehouse_sql").exists()


def test_a_past_period_gets_no_future_note(demo):
    run = ask(demo.tenant, "Revenue by campaign source last quarter")
    assert "I could not answer this as asked" in run.answer_markdown and "campaign" in run.answer_markdown
    assert "is after the as-of date" not in run.answer_markdown
