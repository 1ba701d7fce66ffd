"""Numbers in the portal: the fast path writes exactly what Babel writes, in every locale."""

from __future__ import annotations

from decimal import Decimal

from babel.localedata import locale_identifiers
from hypothesis import given, settings
from hypothesis import strategies as st

from app import locales

LOCALES = sorted(locale_identifiers())


@settings(max_examples=400, deadline=None)
@given(
    locale=st.sampled_from(LOCALES),
    whole=st.integers(min_value=-(10**22), max_value=10**22),
    places=st.integers(min_value=0, max_value=6),
)
def test_counts_and_decimals_are_babels(locale: str, whole: int, places: int) -> None:
    value = Decimal(whole).scaleb(-places)
    assert locales.count(whole, locale) == locales._babel_count(whole, locale)
    assert locales.decimal(value, locale) == locales._babel_decimal(value, locale)


def test_the_fast_path_is_taken_where_babel_agrees_and_not_elsewhere() -> None:
    assert locales._swap("en_US") is not None
    assert locales._swap("de_DE") is not None
    assert locales._swap("en_IN") is None  # lakh grouping: 1,23,45,678
    assert locales.count(12345678, "en_IN") == "1,23,45,678"
    assert locales.count(12345678, "de_DE") == "12.345.678"
    assert locales.decimal(Decimal("1234.505"), "fr") == "1\u202f234,50"
    assert locales.money(Decimal("-1234.5"), "EUR", "de_DE") == "1.234,50 EUR"
