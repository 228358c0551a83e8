"""Property-based tests (hypothesis) of the time-period parser and the question parser: any text
gives well-formed periods or none, never an exception (issue 13)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.semantic.parser import parse_question
from agents.timeperiods import find_periods, parse_period
from knowledge.frontmatter import split_front_matter
from knowledge.semantic_model import parse_semantic_model

MODEL = parse_semantic_model(split_front_matter((Path(__file__).resolve().parents[2] / "knowledge" / "demo_docs" / "semantic_model.md").read_text())[0])
VALUES = {"office": ["Central", "East", "West"], "product": ["GTX Pro", "MG Special"], "owner": ["Darcel Schlecht"]}
WORDS = st.sampled_from(
    "q1 q2 q3 q4 2024 2025 h1 h2 last this next quarter month year ytd qtd vs versus compared to same since between and "
    "from to march january of the in for days 30 90 revenue win rate by office top 5 bottom 3 Central GTXPro avg qtr "
    "- / , ? 31 2025-01-01 2025-13-45 1999 3000".split()
)
TEXTS = st.one_of(st.text(max_size=120), st.lists(WORDS, max_size=14).map(" ".join))
AS_OF = st.dates(min_value=dt.date(1901, 1, 1), max_value=dt.date(2998, 12, 31))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS, as_of=AS_OF)
def test_periods_are_well_formed_or_absent(text, as_of):
    for match in find_periods(text, as_of=as_of):
        p = match.period
        assert p.start <= p.end
        assert 0 <= match.span[0] < match.span[1] <= len(text)
        assert p.complete or p.end == as_of  # an incomplete period is cut at the as-of date
    single = parse_period(text, as_of=as_of)
    assert single is None or single.start <= single.end


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS)
def test_the_question_parser_never_raises_and_names_what_it_drops(text):
    result = parse_question(text, model=MODEL, values=VALUES, as_of=dt.date(2025, 6, 30))
    if result.query is not None:
        assert all(m in MODEL.metrics for m in result.query.metrics)
        assert all(MODEL.has_dimension(d) for d in result.query.group_by)
        if result.query.period is not None:
            assert result.query.period.start <= result.query.period.end
    assert all(isinstance(u, str) and u for u in result.unmapped)
