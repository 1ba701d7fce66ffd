"""parse_money of text against the checks it used to make on the Decimal (a hypothesis
test over decimal-looking text): the same amount, or the same error."""

from __future__ import annotations

import re
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from app.money import MAX_MONEY, SCALE, parse_money

_DECIMAL_TEXT = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def reference(value: str) -> Decimal | str:
    value = value.strip(" \t\n\r\f\v")
    if not _DECIMAL_TEXT.fullmatch(value):
        return 'must be a decimal string of ASCII digits such as "2.50"'
    amount = Decimal(value.strip())
    if not amount.is_finite():
        return "must be a finite number"
    if amount.is_signed():
        return "must not be negative"
    if amount > MAX_MONEY:
        return "is too large"
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -SCALE:
        return f"has more than {SCALE} decimal places"
    return amount


def parsed(value: str) -> Decimal | str:
    try:
        return parse_money(value)
    except ValueError as exc:
        return str(exc)


texts = st.one_of(
    st.from_regex(r"\A[ \t]?-?[0-9]{0,20}(\.[0-9]{0,7})?[ \n]?\Z"),
    st.lists(st.sampled_from(list("0123456789.-+e _\u0665 ")), max_size=12).map("".join),
    st.sampled_from(["99999999999999.9999", "100000000000000", "-0", "0.00000", "5.", ".5"]),
)


@given(texts)
def test_text_is_read_as_the_decimal_checks_read_it(value: str) -> None:
    expected, got = reference(value), parsed(value)
    assert got == expected
    assert str(got) == str(expected)  # the same digits and places, not only the value
