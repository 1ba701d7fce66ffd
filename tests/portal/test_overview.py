"""The overview's periods and changes (the numbers themselves are the stats service's)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from app.portal.overview import change, periods


def test_each_period_is_compared_with_the_one_before_it() -> None:
    spans = {p.key: p for p in periods(date(2026, 3, 31))}

    assert (spans["today"].first, spans["today"].previous_first) == (
        date(2026, 3, 31),
        date(2026, 3, 30),
    )
    assert (spans["yesterday"].first, spans["yesterday"].previous_last) == (
        date(2026, 3, 30),
        date(2026, 3, 29),
    )
    week = spans["7d"]
    assert (week.first, week.last) == (date(2026, 3, 25), date(2026, 3, 31))
    assert (week.previous_first, week.previous_last) == (date(2026, 3, 18), date(2026, 3, 24))
    # Month to date against the same days of last month, cut at its end (February).
    month = spans["mtd"]
    assert (month.first, month.last) == (date(2026, 3, 1), date(2026, 3, 31))
    assert (month.previous_first, month.previous_last) == (date(2026, 2, 1), date(2026, 2, 28))


def test_month_to_date_on_the_first_and_in_january() -> None:
    month = {p.key: p for p in periods(date(2027, 1, 1))}["mtd"]
    assert (month.first, month.last) == (date(2027, 1, 1), date(2027, 1, 1))
    assert (month.previous_first, month.previous_last) == (date(2026, 12, 1), date(2026, 12, 1))


def test_a_change_is_a_percentage_of_the_period_before() -> None:
    assert change(Decimal(7), Decimal(2)) == Decimal("250.0")
    assert change(Decimal(1), Decimal(3)) == Decimal("-66.7")
    assert change(Decimal(0), Decimal(5)) == Decimal("-100.0")
    # Nothing before, or no figure: no percentage (the page says "new" or "no change").
    assert change(Decimal(4), Decimal(0)) is None
    assert change(None, Decimal(1)) is None
    assert change(Decimal(1), None) is None
