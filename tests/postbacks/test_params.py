"""Parameter parsing is adversarial input: every value is either refused with a 400 or read
as exactly what it says.

The rules are written out again here, independently of app/postbacks/params.py, as an
oracle: for any input, parsing must give what the oracle gives, and refuse exactly what the
oracle refuses.
"""

from __future__ import annotations

import string
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode

import iso4217
import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from app.clickid import new_click_id, parse_click_id
from app.errors import BadRequest
from app.postbacks import params

# Money is in the currencies of the standard that have minor units (not XAU, XXX...).
ISO_4217 = {c.code for c in iso4217.Currency if c.exponent is not None}

ALIASES = {
    "click_id": ["click_id", "transaction_id", "clickid", "subid"],
    "txid": ["txid", "adv_sub", "order_id"],
    "customer_id": ["customer_id", "customer", "user_id"],
    "coupon": ["coupon", "coupon_code", "promo_code"],
}
KNOWN = {"amount", "payout", "currency", "status", "event", "token", "offer_id"}
KNOWN |= {alias for names in ALIASES.values() for alias in names}
NAMES = [*sorted(KNOWN), "other", "sub1", ""]
ASCII_SPACE = " \t\n\r\f\v"
MAX_MONEY = Decimal("99999999999999.9999")
MAX_BIGINT = 2**63 - 1
EVENT_CHARS = set(string.ascii_letters + string.digits + "_.-")


class Refused(Exception):
    pass


def _pick(raw: params.Raw, name: str) -> object | None:
    for alias in ALIASES.get(name, [name]):
        if alias in raw:
            return raw[alias]
    return None


def _text(value: object, limit: int) -> str | None:
    if value is None:
        return None
    text = (repr(value) if isinstance(value, float) else str(value)).strip()
    if not text:
        return None
    if len(text) > limit or "\x00" in text:
        raise Refused
    return text


def expected_money(value: object) -> Decimal | None:
    """An amount is unsigned ASCII digits with at most one '.', at most 4 decimals."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        text = value.strip(ASCII_SPACE)
        whole, _, frac = text.partition(".")
        if not whole + frac or any(c not in string.digits for c in whole + frac):
            raise Refused
        amount = Decimal(text)
        places = len(frac)
    else:
        if isinstance(value, float) and value == 0:
            value = 0.0  # JSON's -0.0 is the number zero
        amount = Decimal(repr(value) if isinstance(value, float) else str(value))
        exponent = amount.as_tuple().exponent
        assert isinstance(exponent, int)
        places = -exponent
        if amount.is_signed():
            raise Refused
    if places > 4 or amount > MAX_MONEY:
        raise Refused
    return amount


def expected_id(value: object) -> int | None:
    text = _text(value, 1024)
    if text is None:
        return None
    if any(c not in string.digits for c in text) or not 1 <= int(text) <= MAX_BIGINT:
        raise Refused
    return int(text)


def expected(raw: params.Raw) -> params.ConversionParams:
    """What the rules make of `raw`; Refused when any of them is broken."""
    click_text = _text(_pick(raw, "click_id"), 64)
    click_id = None if click_text is None else parse_click_id(click_text)
    if click_text is not None and click_id is None:
        raise Refused
    status = (_text(_pick(raw, "status"), 32) or "approved").lower()
    if status not in ("approved", "pending", "rejected"):
        raise Refused
    event = _text(_pick(raw, "event"), 64)
    if event is not None and not set(event) <= EVENT_CHARS:
        raise Refused
    currency = _text(_pick(raw, "currency"), 3)
    if currency is not None:
        if len(currency) != 3 or any(c not in string.ascii_letters for c in currency):
            raise Refused
        currency = currency.upper()
        if currency not in ISO_4217:
            raise Refused
    return params.ConversionParams(
        click_id=click_id,
        txid=_text(_pick(raw, "txid"), 255),
        amount=expected_money(_pick(raw, "amount")),
        payout=expected_money(_pick(raw, "payout")),
        currency=currency,
        status=status,
        event=event,
        offer_id=expected_id(_pick(raw, "offer_id")),
        customer_id=_text(_pick(raw, "customer_id"), 255),
        coupon=_text(_pick(raw, "coupon"), 255),
    )


def assert_parsed_as_the_rules_say(raw: params.Raw) -> None:
    try:
        wanted = expected(raw)
    except Refused:
        with pytest.raises(BadRequest) as refused:
            params.parse_conversion(raw)
        assert refused.value.status == 400
        assert refused.value.code == "invalid_parameter"
    else:
        assert params.parse_conversion(raw) == wanted


def _click_ids() -> st.SearchStrategy[str]:
    # A fresh click ID each time, in our short form or as a UUID (both are ours).
    return st.builds(lambda: new_click_id()[0]) | st.builds(
        lambda: str(parse_click_id(new_click_id()[0]))
    )


# Digits of other scripts (Arabic-Indic, Devanagari, fullwidth) and a superscript two.
DIGITS_OF_ALL_KINDS = "0123456789\u0665\u0660\u096b\uff15\u00b2"
AMOUNT_TEXT = st.text(alphabet=DIGITS_OF_ALL_KINDS + "._-+eE \t\u00a0", max_size=22)
DECIMALS = st.decimals(min_value=0, max_value=Decimal("1e15"), allow_nan=False, places=5)
INTERESTING = st.sampled_from(
    [
        "approved",
        " Pending ",
        "REJECTED",
        "paid",
        "usd",
        "EUR",
        "ZZZ",
        "XAU",
        "€€€",
        "sale",
        "a b",
        "\u0665",
        "1_000",
        "1e3",
        "2.50",
        " 7 ",
        ".5",
        "5.",
        "-0",
        "NaN",
        "Infinity",
        "9223372036854775807",
        "9223372036854775808",
        "9999999999999999999",
        "0",
        "x\x00y",
        "",
        "   ",
    ]
)
VALUES = (
    st.text(max_size=40)
    | st.text(alphabet="ab-", min_size=30, max_size=300)
    | AMOUNT_TEXT
    | DECIMALS.map(lambda d: format(d, "f"))
    | st.integers(min_value=-5, max_value=2**64).map(str)
    | _click_ids()
    | INTERESTING
)


@given(st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=8))
@example({"amount": "\u0665", "click_id": "x"})
@example({"amount": "1_000"})
@example({"payout": "1_000"})
@example({"offer_id": "9999999999999999999"})
@example({"offer_id": "9223372036854775807", "amount": "99999999999999.9999"})
def test_refused_values_are_exactly_those_breaking_a_rule(values: dict[str, str]) -> None:
    assert_parsed_as_the_rules_say(params.from_query(urlencode(values)))


@given(st.binary(max_size=400))
def test_any_query_string_is_read_by_its_first_occurrences(query: bytes) -> None:
    raw = params.from_query(query)
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True, errors="replace")
    first: params.Raw = {}
    for name, value in pairs:
        first.setdefault(name, value)
    assert raw == {name: value for name, value in first.items() if name in KNOWN}
    assert_parsed_as_the_rules_say(raw)


JSON_VALUES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | DECIMALS.map(float)
    | VALUES
    | st.lists(st.integers(min_value=-(2**63), max_value=2**64 - 1), max_size=2)
)


@given(st.dictionaries(st.sampled_from(NAMES), JSON_VALUES, max_size=8))
@example({"offer_id": 9999999999999999999})
@example({"offer_id": 9223372036854775807, "amount": 12.5})
@example({"amount": -0.0})
def test_json_values_are_read_as_the_rules_say(values: dict[str, object]) -> None:
    body = orjson.dumps(values)
    if any(name in KNOWN and isinstance(value, bool | list) for name, value in values.items()):
        with pytest.raises(BadRequest) as refused:
            params.from_json(body)
        assert refused.value.code == "invalid_parameter"
        return
    raw = params.from_json(body)
    assert raw == {n: v for n, v in values.items() if n in KNOWN and v is not None}
    assert_parsed_as_the_rules_say(raw)


@given(st.binary(max_size=300))
@example(b"[1, 2]")
@example(b'"text"')
def test_a_json_body_that_is_not_an_object_is_refused(body: bytes) -> None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        return
    with pytest.raises(params.InvalidBody) as refused:
        params.from_json(body)
    assert refused.value.code == "invalid_json"


@given(st.decimals(min_value=0, max_value=Decimal("99999999999999.9999"), places=4))
def test_amounts_round_trip_exactly(amount: Decimal) -> None:
    text = format(amount, "f")
    raw = params.from_query(urlencode({"amount": text, "click_id": new_click_id()[0]}))
    parsed = params.parse_conversion(raw).amount
    assert parsed is not None
    assert parsed.as_tuple() == Decimal(text).as_tuple()


@pytest.mark.parametrize(
    "text", ["\u0665", "1_000", "1e3", "+5", "-5", "-0", "NaN", "Infinity", "5\u00a0", "0x10"]
)
@pytest.mark.parametrize("name", ["amount", "payout"])
def test_money_is_ascii_decimals_only(name: str, text: str) -> None:
    with pytest.raises(BadRequest) as refused:
        params.parse_conversion({name: text})
    assert refused.value.message.startswith(f"{name}: ")


@pytest.mark.parametrize("code", ["ZZZ", "XXX", "XAU", "EU", "EURO", "E1R"])
def test_a_currency_is_an_iso_4217_code_of_money(code: str) -> None:
    with pytest.raises(BadRequest, match="currency"):
        params.parse_conversion({"currency": code})
    assert params.parse_conversion({"currency": "jpy"}).currency == "JPY"


@pytest.mark.parametrize("text", ["9223372036854775808", "9999999999999999999", "0", "-1", "1.0"])
def test_an_offer_id_is_a_positive_bigint(text: str) -> None:
    with pytest.raises(BadRequest, match="offer_id"):
        params.parse_conversion({"offer_id": text})
    assert params.parse_conversion({"offer_id": "9223372036854775807"}).offer_id == MAX_BIGINT


@given(st.sampled_from(ALIASES["click_id"]), st.sampled_from(ALIASES["txid"]), _click_ids())
def test_click_id_and_txid_aliases(click_alias: str, txid_alias: str, click_id: str) -> None:
    raw = params.from_query(urlencode({click_alias: click_id, txid_alias: "T"}))
    parsed = params.parse_conversion(raw)
    assert parsed.click_id == parse_click_id(click_id)
    assert parsed.txid == "T"


def test_the_first_alias_wins_and_the_first_occurrence() -> None:
    first, second = new_click_id()[0], new_click_id()[0]
    raw = params.from_query(f"subid={second}&click_id={first}&click_id={second}")
    assert params.parse_conversion(raw).click_id == parse_click_id(first)


@given(
    st.dictionaries(
        st.sampled_from(sorted(params.KNOWN | {"other", "Token"})),
        st.one_of(st.text(max_size=3), st.integers(), st.none()),
    )
)
def test_said_gives_each_name_what_pick_gives(raw: dict[str, object]) -> None:
    found = params.said(raw)
    for name in params.ALIASES:
        assert found.get(name) == params.pick(raw, name)
        assert (name in found) == any(alias in raw for alias in params.ALIASES[name])
