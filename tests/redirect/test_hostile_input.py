"""Visitor input only ever fills macros: never the scheme, host or path."""

from urllib.parse import unquote_to_bytes, urlsplit

from hypothesis import given
from hypothesis import strategies as st

from app.redirect.cache import split_template
from app.redirect.handler import MAX_VALUE_CHARS, fill_parts, parse_sub_ids

TEMPLATE = split_template("https://shop.example/p/{sub2}?a={sub1}&c={click_id}")


@given(st.binary(max_size=3000))
def test_any_query_string_keeps_the_offer_host(query: bytes) -> None:
    subs = parse_sub_ids(query)
    location = fill_parts(TEMPLATE, {k: v[0] for k, v in subs.items()})
    parts = urlsplit(location)
    assert parts.scheme == "https"
    assert parts.netloc == "shop.example"
    assert parts.path.startswith("/p/")
    assert "/" not in parts.path[3:]
    assert "\r" not in location
    assert "\n" not in location
    location.encode("ascii")  # a header value: nothing outside ASCII


@given(st.text(max_size=1500))
def test_sub_ids_pass_through_exactly_up_to_the_limit(value: str) -> None:
    from urllib.parse import quote

    subs = parse_sub_ids(b"sub1=" + quote(value, safe="").encode())
    passthrough, stored = subs["sub1"]
    assert passthrough == value[:MAX_VALUE_CHARS]
    assert "\x00" not in stored


def test_invalid_utf8_is_passed_through_byte_for_byte() -> None:
    subs = parse_sub_ids(b"sub1=%FF%FEabc&sub2=ok")
    location = fill_parts(split_template("https://x.example/?a={sub1}"), {"sub1": subs["sub1"][0]})
    assert unquote_to_bytes(urlsplit(location).query[2:]) == b"\xff\xfeabc"
    assert subs["sub1"][1] == "\ufffd\ufffdabc"


def test_hostile_values_are_encoded() -> None:
    subs = parse_sub_ids(b"sub1=%0D%0ALocation:%20//evil.example&sub2=javascript:alert(1)")
    location = fill_parts(TEMPLATE, {k: v[0] for k, v in subs.items()})
    assert urlsplit(location).netloc == "shop.example"
    assert "%0D%0A" in location


def test_ten_thousand_parameters_and_first_wins() -> None:
    query = b"&".join([b"sub1=first"] + [b"x%d=y" % i for i in range(10_000)] + [b"sub1=last"])
    assert parse_sub_ids(query)["sub1"][0] == "first"
