"""parse_sub_ids against the plain reading it replaced: every value unquoted, every name
decoded (a hypothesis test over the bytes a query may hold)."""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from hypothesis import given, settings
from hypothesis import strategies as st

from app.redirect.handler import MAX_VALUE_CHARS, SUB_PARAMS, parse_sub_ids


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
