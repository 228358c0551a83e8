import datetime as dt

import pytest

from agents.timeperiods import parse_period, resolve_as_of
from tenants.models import Tenant

AS_OF = dt.date(2025, 6, 30)


@pytest.mark.parametrize(
    "text, start, end, complete",
    [
        ("revenue last quarter", dt.date(2025, 1, 1), dt.date(2025, 3, 31), True),
        ("this quarter so far", dt.date(2025, 4, 1), dt.date(2025, 6, 30), True),  # as_of is the quarter's last day
        ("last month", dt.date(2025, 5, 1), dt.date(2025, 5, 31), True),
        ("this month", dt.date(2025, 6, 1), dt.date(2025, 6, 30), True),
        ("last year", dt.date(2024, 1, 1), dt.date(2024, 12, 31), True),
        ("year to date", dt.date(2025, 1, 1), dt.date(2025, 6, 30), False),
        ("in Q3 2024", dt.date(2024, 7, 1), dt.date(2024, 9, 30), True),
        ("last 30 days", dt.date(2025, 6, 1), dt.date(2025, 6, 30), True),
        ("recent deals", dt.date(2025, 4, 2), dt.date(2025, 6, 30), True),
    ],
)
def test_parse_period(text, start, end, complete):
    period = parse_period(text, as_of=AS_OF)
    assert (period.start, period.end, period.complete) == (start, end, complete)


def test_this_quarter_mid_quarter_is_incomplete():
    period = parse_period("this quarter", as_of=dt.date(2025, 5, 15))
    assert (period.start, period.end, period.complete) == (dt.date(2025, 4, 1), dt.date(2025, 5, 15), False)


def test_last_quarter_crosses_the_year():
    period = parse_period("last quarter", as_of=dt.date(2025, 2, 10))
    assert (period.start, period.end) == (dt.date(2024, 10, 1), dt.date(2024, 12, 31))


def test_no_period():
    assert parse_period("win rate by office", as_of=AS_OF) is None


def test_as_of_pinned_and_time_zone():
    assert resolve_as_of(tenant=Tenant(slug="x", settings={"as_of_date": "2025-06-30"})) == AS_OF
    assert resolve_as_of(tenant=Tenant(slug="x"), explicit=dt.date(2024, 1, 2)) == dt.date(2024, 1, 2)
    # Kiritimati (UTC+14) and Pago Pago (UTC-11) are never on the same calendar day.
    east = resolve_as_of(tenant=Tenant(slug="e", time_zone="Pacific/Kiritimati"))
    west = resolve_as_of(tenant=Tenant(slug="w", time_zone="Pacific/Pago_Pago"))
    assert east - west == dt.timedelta(days=1)


# -- the extended grammar (find_periods / find_comparison / comparison_period) -------------------
from agents.timeperiods import comparison_period, find_comparison, find_periods, shift_period  # noqa: E402


@pytest.mark.parametrize(
    "text, start, end, complete",
    [
        ("Q2-2025", dt.date(2025, 4, 1), dt.date(2025, 6, 30), True),
        ("2025 Q2", dt.date(2025, 4, 1), dt.date(2025, 6, 30), True),
        ("Q2 of 2025", dt.date(2025, 4, 1), dt.date(2025, 6, 30), True),
        ("first quarter of 2024", dt.date(2024, 1, 1), dt.date(2024, 3, 31), True),
        ("Q2", dt.date(2025, 4, 1), dt.date(2025, 6, 30), True),
        ("Q4", dt.date(2024, 10, 1), dt.date(2024, 12, 31), True),
        ("March 2025", dt.date(2025, 3, 1), dt.date(2025, 3, 31), True),
        ("in March", dt.date(2025, 3, 1), dt.date(2025, 3, 31), True),
        ("in August", dt.date(2024, 8, 1), dt.date(2024, 8, 31), True),
        ("for 2024", dt.date(2024, 1, 1), dt.date(2024, 12, 31), True),
        ("2024", dt.date(2024, 1, 1), dt.date(2024, 12, 31), True),
        ("between 2025-01-01 and 2025-03-31", dt.date(2025, 1, 1), dt.date(2025, 3, 31), True),
        ("from January to March 2025", dt.date(2025, 1, 1), dt.date(2025, 3, 31), True),
        ("from November 2024 to February 2025", dt.date(2024, 11, 1), dt.date(2025, 2, 28), True),
        ("since April 2025", dt.date(2025, 4, 1), dt.date(2025, 6, 30), True),
        ("last 3 months", dt.date(2025, 4, 1), dt.date(2025, 6, 30), True),
        ("H1 2025", dt.date(2025, 1, 1), dt.date(2025, 6, 30), True),
        ("first half of 2024", dt.date(2024, 1, 1), dt.date(2024, 6, 30), True),
        ("YTD", dt.date(2025, 1, 1), dt.date(2025, 6, 30), False),
        ("in 2025", dt.date(2025, 1, 1), dt.date(2025, 6, 30), False),
        ("last week", dt.date(2025, 6, 23), dt.date(2025, 6, 29), True),
    ],
)
def test_find_periods(text, start, end, complete):
    found = find_periods(text, as_of=AS_OF)
    assert len(found) == 1
    p = found[0].period
    assert (p.start, p.end, p.complete) == (start, end, complete)


def test_find_periods_spans_and_two_periods():
    text = "compare revenue in Q1 and Q2 2025"
    found = find_periods(text, as_of=AS_OF)
    assert [(f.period.start, f.period.end) for f in found] == [
        (dt.date(2025, 1, 1), dt.date(2025, 3, 31)),
        (dt.date(2025, 4, 1), dt.date(2025, 6, 30)),
    ]
    assert [text[a:b] for a, b in (f.span for f in found)] == ["Q1", "Q2 2025"]
    assert find_periods("may I see the pipeline", as_of=AS_OF) == []  # "may" the verb


def test_find_comparison_and_shift():
    c = find_comparison("revenue vs the same quarter last year")
    assert (c.kind, c.base_unit) == ("year", "quarter")
    assert find_comparison("revenue quarter over quarter").kind == "quarter"
    assert find_comparison("revenue vs previous period").kind == "previous"
    assert find_comparison("revenue vs last quarter") is None  # a second period, not a shift
    q2 = parse_period("Q2 2025", as_of=AS_OF)
    assert (comparison_period(q2, "year").start, comparison_period(q2, "year").end) == (dt.date(2024, 4, 1), dt.date(2024, 6, 30))
    assert (comparison_period(q2, "previous").start, comparison_period(q2, "previous").end) == (dt.date(2025, 1, 1), dt.date(2025, 3, 31))
    feb = shift_period(parse_period("March 2025", as_of=AS_OF), months=-1)
    assert (feb.start, feb.end, feb.label) == (dt.date(2025, 2, 1), dt.date(2025, 2, 28), "February 2025")
    # a quarter to date is compared with the same days of the previous quarter
    qtd = parse_period("this quarter", as_of=dt.date(2025, 5, 15))
    prev = comparison_period(qtd, "previous")
    assert (prev.start, prev.end) == (dt.date(2025, 1, 1), dt.date(2025, 2, 15))
