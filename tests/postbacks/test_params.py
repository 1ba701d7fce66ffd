"""Parameter parsing is adversarial input: anything but a clean 400 is a bug."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from urllib.parse import urlencode

from hypothesis import given
from hypothesis import strategies as st

from app.clickid import new_click_id
from app.errors import BadRequest
from app.postbacks import params

NAMES = [*sorted(params.KNOWN), "other", "sub1", ""]


@given(st.binary(max_size=400))
def test_any_query_string_parses_or_is_a_bad_request(query: bytes) -> None:
    try:
        raw = params.from_query(query)
        params.parse_conversion(raw)
        params.token_of(raw)
    except BadRequest:
        pass


@given(st.dictionaries(st.sampled_from(NAMES), st.text(max_size=60), max_size=8))
def test_any_values_parse_or_are_a_bad_request(values: dict[str, str]) -> None:
    try:
        parsed = params.parse_conversion(params.from_query(urlencode(values)))
    except BadRequest as exc:
        status = exc.status
    else:
        status = 200
        assert parsed.amount is None or parsed.amount >= 0
        assert parsed.status in ("approved", "pending", "rejected")
    assert status in (200, 400)


@given(st.binary(max_size=300))
def test_any_json_body_parses_or_is_a_bad_request(body: bytes) -> None:
    with contextlib.suppress(BadRequest):
        params.parse_conversion(params.from_json(body))


@given(
    st.decimals(min_value=0, max_value=Decimal("99999999999999.9999"), places=4, allow_nan=False)
)
def test_amounts_round_trip_exactly(amount: Decimal) -> None:
    raw = params.from_query(urlencode({"amount": str(amount), "click_id": new_click_id()[0]}))
    assert params.parse_conversion(raw).amount == amount


@given(st.sampled_from(["transaction_id", "clickid", "subid", "click_id"]))
def test_click_id_aliases(alias: str) -> None:
    click_id = new_click_id()[0]
    raw = params.from_query(urlencode({alias: click_id, "adv_sub": "T"}))
    parsed = params.parse_conversion(raw)
    assert parsed.click_id is not None
    assert parsed.txid == "T"


def test_the_first_alias_wins_and_the_first_occurrence() -> None:
    first, second = new_click_id()[0], new_click_id()[0]
    raw = params.from_query(f"subid={second}&click_id={first}&click_id={second}")
    from app.clickid import parse_click_id

    assert params.parse_conversion(raw).click_id == parse_click_id(first)
