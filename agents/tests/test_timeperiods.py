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
