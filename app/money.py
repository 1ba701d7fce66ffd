"""Money: Decimal end to end, rendered as decimal strings, never float."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from app import patterns

MAX_MONEY = Decimal("99999999999999.9999")  # NUMERIC(18, 4)
SCALE = 4
# Written amounts are ASCII decimals: Decimal() alone would also take "1_000", "\u0665" (an
# Arabic-Indic five), "1e3" and "Infinity", none of which an advertiser means as money.
_DECIMAL_TEXT = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_ASCII_SPACE = " \t\n\r\f\v"


def parse_money(value: object) -> Decimal:
    """Parse a non-negative amount of at most four decimal places.

    Text must be ASCII digits with an optional decimal point (spaces around it aside).
    """
    if isinstance(value, str):
        return _parse_text(value)
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError('must be a decimal string such as "2.50"')
    if isinstance(value, float) and value == 0:
        value = 0.0  # JSON's -0.0 is the number zero (a schema's minimum 0 takes it)
    # A JSON number arrives as a float; its shortest repr is the digits the client sent.
    try:
        amount = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        raise ValueError('must be a decimal string such as "2.50"') from None
    if not amount.is_finite():
        raise ValueError("must be a finite number")
    if amount.is_signed():  # -0 as well: it would render as "-0.00"
        raise ValueError("must not be negative")
    if amount > MAX_MONEY:
        raise ValueError("is too large")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -SCALE:
        raise ValueError(f"has more than {SCALE} decimal places")
    return amount


def _parse_text(value: str) -> Decimal:
    """`parse_money` of text: what its checks say of a Decimal, read off the text that
    _DECIMAL_TEXT matched (finite, signed only with a "-", places after the point)."""
    text = value.strip(_ASCII_SPACE)
    if not _DECIMAL_TEXT.fullmatch(text):
        raise ValueError('must be a decimal string of ASCII digits such as "2.50"')
    if text[0] == "-":  # -0 as well: it would render as "-0.00"
        raise ValueError("must not be negative")
    amount = Decimal(text)
    if amount > MAX_MONEY:
        raise ValueError("is too large")
    point = text.find(".")
    if point >= 0 and len(text) - point - 1 > SCALE:
        raise ValueError(f"has more than {SCALE} decimal places")
    return amount


def format_money(amount: Decimal) -> str:
    """At least two decimals ("2.50"), more only where they carry value ("0.125")."""
    text = format(amount.normalize(), "f")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


# The schema states money as the public contract writes it, a decimal string: JSON Schema
# cannot say "at most four decimals" of a binary float, so numbers (still taken, when they
# convert exactly, for older clients) are left out of it.
MONEY_DOC = 'a decimal string such as "2.50" (a JSON number is also taken)'
MONEY_SCHEMA = {"type": "string", "pattern": patterns.MONEY, "description": MONEY_DOC}
PERCENT_SCHEMA = {"type": "string", "pattern": patterns.PERCENT, "description": "0 to 100"}

Money = Annotated[
    Decimal,
    BeforeValidator(parse_money),
    PlainSerializer(format_money, return_type=str, when_used="json"),
    WithJsonSchema(MONEY_SCHEMA),
]


def text_only(example: str) -> Callable[[object], Decimal]:
    """A validator of money given as a decimal string only (a JSON number is refused); the
    error names `example`."""

    def parse(value: object) -> Decimal:
        if not isinstance(value, str):
            raise ValueError(f"must be a decimal string such as {example}")
        return parse_money(value)

    return parse


# Money in fields added since the contract wrote money as strings: the text only (a JSON
# number where the schema says string is refused, as the schema says).
MoneyText = Annotated[
    Decimal,
    BeforeValidator(text_only('"50.00"')),
    PlainSerializer(format_money, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": patterns.MONEY}),
]
