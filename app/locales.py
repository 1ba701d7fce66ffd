"""Users' locales: which are known, and numbers and amounts written as a locale reads them
(CLDR's separators and digit groups, by Babel). Amounts keep the form the portal uses
everywhere, the number then the ISO currency code ("1,234.50 USD", "1.234,50 EUR" in
de_DE), so a currency never hides behind a symbol two currencies share.

Babel parses its pattern and looks up the locale's symbols on every call, most of a big
table's render time (a portal page formats thousands of numbers). Where a locale writes
numbers as Python's own grouping does with its two separators swapped in (checked against
Babel on probes of every length when the locale is first used), non-negative ones are
written so; any other locale or value goes through Babel."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from itertools import product

from babel import Locale, UnknownLocaleError
from babel.numbers import format_decimal, get_decimal_symbol, get_group_symbol

DEFAULT = "en_US"
_TWO_PLACES = "#,##0.00"


@lru_cache(maxsize=256)
def _locale(name: str) -> Locale:
    return Locale.parse(name)


def known(name: str) -> bool:
    try:
        _locale(name)
    except (UnknownLocaleError, ValueError):
        return False
    return True


def _babel_count(value: int, locale: str) -> str:
    return format_decimal(value, locale=_locale(locale))


def _babel_decimal(value: Decimal, locale: str) -> str:
    return format_decimal(
        value, format=_TWO_PLACES, locale=_locale(locale), decimal_quantization=True
    )


# Probes: every length from 1 to 21 digits, and fractions at and around the rounding ties.
_DIGITS = "987654321012345678901"
_PROBE_INTS = [0, *(int(_DIGITS[:n]) for n in range(1, 22)), *(10**n for n in range(1, 21))]
_PROBE_DECIMALS = [
    Decimal(f"{i}{f}")
    for i, f in product(_PROBE_INTS, ("", ".5", ".005", ".015", ".125", ".994", ".995", ".9999"))
]


@lru_cache(maxsize=256)
def _swap(locale: str) -> dict[int, str] | None:
    """The translation of Python's "," and "." into the locale's symbols, if that writes
    every probe as Babel does; else None (Babel for this locale)."""
    loc = _locale(locale)
    table = str.maketrans({",": get_group_symbol(loc), ".": get_decimal_symbol(loc)})
    if all(f"{v:,}".translate(table) == _babel_count(v, locale) for v in _PROBE_INTS) and all(
        f"{v:,.2f}".translate(table) == _babel_decimal(v, locale) for v in _PROBE_DECIMALS
    ):
        return table
    return None


def count(value: int, locale: str = DEFAULT) -> str:
    table = _swap(locale)
    if table is not None and type(value) is int and value >= 0:
        return f"{value:,}".translate(table)
    return _babel_count(value, locale)


def decimal(value: Decimal, locale: str = DEFAULT) -> str:
    """Two places, as money and rates are shown."""
    table = _swap(locale)
    if table is not None and type(value) is Decimal and value.is_finite() and value >= 0:
        return f"{value:,.2f}".translate(table)
    return _babel_decimal(value, locale)


def money(amount: Decimal, currency: str | None, locale: str = DEFAULT) -> str:
    """The amount without its sign (the caller writes a true minus) and the currency."""
    return f"{decimal(abs(amount), locale)} {currency or ''}".strip()
