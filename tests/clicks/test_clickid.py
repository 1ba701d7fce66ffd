import uuid

import pytest

from app.clickid import format_click_id, new_click_id, parse_click_id


def test_a_new_click_id_round_trips_in_both_forms() -> None:
    text, ms = new_click_id()
    click = parse_click_id(text)
    assert click is not None
    assert click.version == 7
    assert click.int >> 80 == ms
    assert format_click_id(click) == text
    assert parse_click_id(str(click)) == click


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
