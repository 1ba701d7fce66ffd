"""The one-pass query parser (`params.from_query`) against the reference it replaced:
`parse_qsl(keep_blank_values=True, errors="replace")`, first occurrence of a known name."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from app.postbacks import params


def reference(query: bytes) -> params.Raw:
    found: params.Raw = {}
    text = query.decode("utf-8", "replace")
    pairs = parse_qsl(text, keep_blank_values=True, errors="replace")
    for name, value in pairs:
        if name in params.KNOWN and name not in found:
            found[name] = value
    return found


CASES = [
    b"",
    b"&&&",
    b"token=a&click_id=b&txid=c&amount=10.00",
    b"txid=first&txid=second&adv_sub=alias&order_id=other",  # repeated, aliases
    b"txid=&amount=&coupon",  # empty values, no '='
    b"=x&token",
    b"txid=a%20b&coupon=c+d&customer_id=%2B1+%2b2",  # percent-encoding, '+'
    b"tx%69d=encoded-name&click+id=plus-name&txid=later",
    b"txid=%FF%FEbad&coupon=%C3%BC&event=%C3",  # invalid UTF-8, a cut sequence
    b"txid=\xc3\xbc\xff&coupon=%zz%2&status=%",  # raw non-ASCII bytes, bad escapes
    b"txid=a=b=c&amount=1;2&event=x%00y",
    b"txid=" + b"x" * 5000 + b"&coupon=" + b"%41" * 2000,  # over-long values
    b"status=APPROVED&currency=usd&offer_id=%31",
]


def test_raw_and_escaped_utf8_are_the_same_value() -> None:
    assert params.from_query("customer_id=é&coupon=ü".encode()) == {
        "customer_id": "é",
        "coupon": "ü",
    }
    assert params.from_query(b"customer_id=%C3%A9") == params.from_query("customer_id=é".encode())


@pytest.mark.parametrize("query", CASES)
def test_the_cases_parse_as_parse_qsl_reads_them(query: bytes) -> None:
    assert params.from_query(query) == reference(query)
    assert params.from_query(query.decode("utf-8", "replace")) == reference(query)


_PIECES = st.sampled_from(
    [
        name.encode()
        for name in (*sorted(params.KNOWN), "x", "", "=", "&", "%", "+", "%2", "%C3%BC", "%FF")
    ]
)


@given(st.lists(st.one_of(_PIECES, st.binary(max_size=6)), max_size=16).map(b"".join))
@example(b"click_id=%ZZ&click%5Fid=1")
def test_any_query_parses_as_parse_qsl_reads_it(query: bytes) -> None:
    assert params.from_query(query) == reference(query)
