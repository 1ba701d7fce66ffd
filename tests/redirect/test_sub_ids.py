"""The redirect's hot parts against the plain readings they replaced (hypothesis tests):
parse_sub_ids against every value unquoted and every name decoded, fill_parts against
every macro's value checked by the unreserved pattern."""

from __future__ import annotations

from urllib.parse import quote, unquote_to_bytes

from hypothesis import given, settings
from hypothesis import strategies as st

from app.redirect.cache import split_template
from app.redirect.handler import _UNRESERVED, MAX_VALUE_CHARS, SUB_PARAMS, fill_parts, parse_sub_ids


def reference(query: bytes) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    if not query:
        return found
    for pair in query.split(b"&"):
        name, _, value = pair.partition(b"=")
        if name not in SUB_PARAMS:
            continue
        key = name.decode()
        if key in found:
            continue
        raw = unquote_to_bytes(value.replace(b"+", b" "))
        try:
            passthrough = raw.decode()[:MAX_VALUE_CHARS]
            stored = passthrough.replace("\x00", "\ufffd")
        except UnicodeDecodeError:
            passthrough = raw.decode("utf-8", "surrogateescape")[:MAX_VALUE_CHARS]
            stored = (
                passthrough.encode("utf-8", "surrogateescape")
                .decode("utf-8", "replace")
                .replace("\x00", "\ufffd")
            )
        found[key] = (passthrough, stored)
    return found


names = st.sampled_from([*SUB_PARAMS, b"sub6", b"SUB1", b"sub%31", b""])
values = st.one_of(
    st.binary(max_size=12),
    st.lists(
        st.sampled_from([b"a", b"%", b"%C3", b"%BC", b"%00", b"+", b"%2B", b"\x00", b"\xc3", b"="]),
        max_size=8,
    ).map(b"".join),
    st.just(b"x" * (MAX_VALUE_CHARS + 3)),
    st.just("é".encode() * (MAX_VALUE_CHARS // 2 + 2)),
)
pairs = st.tuples(names, st.sampled_from([b"=", b""]), values).map(b"".join)


@settings(max_examples=500)
@given(st.lists(pairs, max_size=6).map(b"&".join))
def test_sub_ids_are_read_as_the_plain_reading_reads_them(query: bytes) -> None:
    assert parse_sub_ids(query) == reference(query)


def test_a_value_with_neither_percent_nor_plus_is_taken_as_sent() -> None:
    assert parse_sub_ids(b"sub1=a b&sub2=%41+b&sub1=no&source=\x00") == {
        "sub1": ("a b", "a b"),
        "sub2": ("A b", "A b"),
        "source": ("\x00", "\ufffd"),
    }


def filled(parts: tuple[str, ...], values: dict[str, str]) -> str:
    out = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(part)
        elif value := values.get(part):
            escaped = quote(value, safe="", errors="surrogateescape")
            out.append(value if _UNRESERVED(value) else escaped)
    return "".join(out)


@settings(max_examples=500)
@given(
    st.text(alphabet="ab{}/?=&%\u00e9", max_size=40),
    st.dictionaries(
        st.sampled_from(["a", "b", "ab", "", "click_id"]),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=5)
        | st.sampled_from(["Ab9", "a-b", "\u0665", "\u00e9", "x y", "\udcff"]),
    ),
)
def test_a_url_is_filled_as_the_plain_fill_fills_it(template: str, values: dict[str, str]) -> None:
    parts = split_template(template)
    assert fill_parts(parts, values) == filled(parts, values)
