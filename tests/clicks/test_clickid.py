import base64
import binascii
import time
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.clickid import format_click_id, new_click_id, parse_click_id


def test_a_new_click_id_round_trips_in_both_forms() -> None:
    text, ms = new_click_id()
    click = parse_click_id(text)
    assert click is not None
    assert click.version == 7
    assert click.int >> 80 == ms
    assert format_click_id(click) == text
    assert parse_click_id(str(click)) == click


def test_new_click_ids_are_version_7_with_every_random_bit_in_use() -> None:
    # Over two blocks of IDs (4,096 each): each parses back to itself and its time, and
    # each of the 74 random bits is seen both set and clear (a bit stuck at one value
    # would be a 1 in 2**4095 chance for a random one).
    seen_set, seen_clear = 0, 0
    random_bits = ((1 << 12) - 1) << 64 | ((1 << 62) - 1)
    for _ in range(2 * 4096 + 7):
        text, ms = new_click_id()
        click = parse_click_id(text)
        assert click is not None
        assert click.version == 7
        assert click.variant == uuid.RFC_4122
        assert click.int >> 80 == ms
        assert format_click_id(click) == text
        seen_set |= click.int & random_bits
        seen_clear |= ~click.int & random_bits
    assert seen_set == seen_clear == random_bits
    assert random_bits.bit_count() == 74


def test_click_ids_sort_by_their_time() -> None:
    made = [new_click_id() for _ in range(3000)]
    assert sorted(made, key=lambda pair: pair[1]) == sorted(made, key=lambda pair: pair[0][:10])
    assert len({text for text, _ in made}) == len(made)


@pytest.mark.parametrize(
    "text",
    [
        "v" * 26,  # a timestamp in the year 10889
        "0" * 26,  # 1970, and not version 7
        "ffffffff-ffff-4fff-bfff-ffffffffffff",  # version 4
        str(uuid.uuid4()),
        "not a click id",
        "",
    ],
)
def test_implausible_click_ids_are_refused(text: str) -> None:
    assert parse_click_id(text) is None


def test_another_spelling_of_the_same_bits_is_refused() -> None:
    text, _ = new_click_id()
    # The last character carries 3 bits and 2 unused ones: setting those gives a second
    # spelling that would decode to the same click.
    last = "0123456789abcdefghijklmnopqrstuv"
    alias = text[:-1] + last[last.index(text[-1]) ^ 1]
    assert alias != text
    assert parse_click_id(alias) is None


def decoded_by_base32(text: str) -> uuid.UUID | None:
    """The 26-character form read the slow, obvious way: base32hex-decode the text and
    accept it only if encoding the UUID gives the same text back (the reference)."""
    text = text.strip().lower()
    try:
        click = uuid.UUID(bytes=base64.b32hexdecode(text.upper() + "======"))
    except (binascii.Error, ValueError):
        return None
    if format_click_id(click) != text:
        return None
    if click.version != 7 or click.variant != uuid.RFC_4122:
        return None
    if not 1_577_836_800_000 <= click.int >> 80 <= time.time_ns() // 1_000_000 + 86_400_000:
        return None
    return click


ALPHABET = "0123456789abcdefghijklmnopqrstuvABCDEFGHIJKLMNOPQRSTUV"


def spelled(ms: int, rand: int) -> str:
    """The 26-character form of the version-7 ID of time `ms` and 74 random bits."""
    value = (ms << 80) | (7 << 76) | ((rand >> 62) << 64) | (2 << 62) | (rand & ((1 << 62) - 1))
    return format_click_id(uuid.UUID(int=value))


real_ids = st.builds(
    spelled, st.integers(1_577_836_800_000, 1_900_000_000_000), st.integers(0, 2**74 - 1)
)


def changed(text: str, at: int, char: str, upper: bool) -> str:
    text = text[:at] + char + text[at + 1 :]
    return text.upper() if upper else text


@given(
    st.one_of(
        st.text(alphabet=ALPHABET, min_size=26, max_size=26),
        st.text(alphabet=ALPHABET + "wxyz_+-= \u00e9\u0661", min_size=26, max_size=26),
        real_ids,
        # Real IDs with one character changed (the version, the variant, the unused bits).
        st.builds(
            changed, real_ids, st.integers(0, 25), st.sampled_from(ALPHABET + "w_ "), st.booleans()
        ),
    )
)
def test_the_26_character_form_is_read_as_base32hex_decoding_reads_it(text: str) -> None:
    assert parse_click_id(text) == decoded_by_base32(text)


@given(st.integers(min_value=0, max_value=(1 << 128) - 1))
def test_the_short_form_is_base32hex_of_the_16_bytes(value: int) -> None:
    click = uuid.UUID(int=value)
    assert format_click_id(click) == base64.b32hexencode(click.bytes)[:26].decode().lower()
