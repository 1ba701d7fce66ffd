"""Postback and pixel parameters: query string, form or JSON body, with their aliases.

Everything an advertiser may send is checked here, before anything is queued, so bad
input gets a 400 and is never stored. Parsing is pure (no I/O) and property-tested.
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from urllib.parse import unquote

import orjson

from app import currencies
from app.clickid import parse_click_id
from app.errors import BadRequest
from app.money import parse_money
from app.postbacks.records import STATUSES, Said
from app.postbacks.records import (
    ConversionParams as ConversionParams,  # what parse_conversion returns
)

# First name of each tuple is the canonical one; the first alias present wins.
ALIASES: dict[str, tuple[str, ...]] = {
    "click_id": ("click_id", "transaction_id", "clickid", "subid"),
    "txid": ("txid", "adv_sub", "order_id"),
    "amount": ("amount",),
    "payout": ("payout",),
    "currency": ("currency",),
    "status": ("status",),
    "event": ("event",),
    "token": ("token",),
    "offer_id": ("offer_id",),
    "customer_id": ("customer_id", "customer", "user_id"),
    "coupon": ("coupon", "coupon_code", "promo_code"),
}
KNOWN = frozenset(name for names in ALIASES.values() for name in names)
MAX_VALUE_CHARS = 1024
MAX_TXID_CHARS = 255
# The advertiser's own ID of a buyer, and a coupon code: longer ones are a 400.
MAX_CUSTOMER_CHARS = 255
MAX_COUPON_CHARS = 255
# IDs are BIGINT in PostgreSQL: a larger one is refused here, not by the database.
MAX_ID = 2**63 - 1
_EVENT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")

Raw = dict[str, object]


class InvalidBody(BadRequest):
    pass


def from_query(query: bytes | str) -> Raw:
    """Known parameters of a query string or form body; the first occurrence wins.

    One pass, as `parse_qsl(text, keep_blank_values=True, errors="replace")` reads it
    (tests/postbacks/test_query_parser.py holds the two to the same answers): only a
    name or value with `%` or `+` in it is unquoted, and only known names' values. Bytes
    not escaped are read as UTF-8 too (as the escaped ones and the redirect's sub-IDs):
    `customer_id=é` is the same buyer sent raw or as `%C3%A9`."""
    text = query.decode("utf-8", "replace") if isinstance(query, bytes) else query
    found: Raw = {}
    for part in text.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if "%" in name or "+" in name:
            name = unquote(name.replace("+", " "), errors="replace")
        if name in KNOWN and name not in found:
            if "%" in value or "+" in value:
                value = unquote(value.replace("+", " "), errors="replace")
            found[name] = value
    return found


def from_json(body: bytes) -> Raw:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidBody("the request body is not valid JSON", code="invalid_json") from None
    if not isinstance(data, dict):
        raise InvalidBody("the JSON body must be an object", code="invalid_json")
    found: Raw = {}
    for name, value in data.items():
        if name not in KNOWN:
            continue
        if value is None:
            continue
        # bool is an int to Python; `true` is no amount.
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise BadRequest(f"{name}: must be a string or a number", code="invalid_parameter")
        found[name] = value
    return found


def pick(raw: Raw, name: str) -> object | None:
    for alias in ALIASES[name]:
        if alias in raw:
            return raw[alias]
    return None


# alias -> (its name, its rank among the name's aliases: the first present wins).
_RANKS = {
    alias: (name, rank) for name, names in ALIASES.items() for rank, alias in enumerate(names)
}


def said(raw: Raw) -> dict[str, object]:
    """Each name's value, as `pick` gives it, for the names given: one pass over `raw`."""
    found: dict[str, object] = {}
    aliased: list[tuple[int, str, object]] | None = None
    for alias, value in raw.items():
        entry = _RANKS.get(alias)
        if entry is None:
            continue
        name, rank = entry
        if rank == 0:
            found[name] = value  # the name itself: ahead of any alias
        elif aliased is None:
            aliased = [(rank, name, value)]
        else:
            aliased.append((rank, name, value))
    if aliased is not None:
        for _, name, value in sorted(aliased, key=lambda entry: entry[0]):
            if name not in found:
                found[name] = value
    return found


def _text_of(value: object | None, name: str, limit: int = MAX_VALUE_CHARS) -> str | None:
    if value is None:
        return None
    if isinstance(value, float | int):
        value = repr(value) if isinstance(value, float) else str(value)
    assert isinstance(value, str)
    value = value.strip()
    if value == "":
        return None
    if len(value) > limit:
        raise BadRequest(f"{name}: longer than {limit} characters", code="invalid_parameter")
    if "\x00" in value:
        raise BadRequest(f"{name}: must not contain NUL", code="invalid_parameter")
    return value


def _money(value: object | None, name: str) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return parse_money(value)
    except ValueError as exc:
        raise BadRequest(f"{name}: {exc}", code="invalid_parameter") from None


def _id(value: object | None, name: str) -> int | None:
    text = _text_of(value, name)
    if text is None:
        return None
    number = int(text) if text.isascii() and text.isdigit() else 0
    if not 1 <= number <= MAX_ID:
        raise BadRequest(f"{name}: must be an integer from 1 to {MAX_ID}", code="invalid_parameter")
    return number


def token_of(raw: Raw) -> str | None:
    value = pick(raw, "token")
    return value if isinstance(value, str) and value else None


def click_id_of(raw: Raw) -> uuid.UUID | None:
    """The click ID if one is given; BadRequest if it is not one of ours."""
    return _click_id(pick(raw, "click_id"))


def _click_id(value: object | None) -> uuid.UUID | None:
    text = _text_of(value, "click_id", 64)
    if text is None:
        return None
    parsed = parse_click_id(text)
    if parsed is None:
        raise BadRequest("click_id: not a click ID of this tracker", code="invalid_parameter")
    return parsed


def parse_conversion(raw: Raw) -> ConversionParams:
    """Validate the conversion parameters; BadRequest names the first bad one."""
    return ConversionParams(*parse_said(raw))


def parse_said(raw: Raw) -> Said:
    """`parse_conversion` as a tuple (records.Said), for intake's hot path."""
    given = said(raw)
    get = given.get
    click_id = _click_id(get("click_id"))
    status = (_text_of(get("status"), "status", 32) or "approved").lower()
    if status not in STATUSES:
        raise BadRequest(f"status: must be one of {', '.join(STATUSES)}", code="invalid_parameter")
    event = _text_of(get("event"), "event", 64)
    if event is not None and not _EVENT.match(event):
        raise BadRequest(
            "event: a goal name of letters, digits, '_', '.' or '-'", code="invalid_parameter"
        )
    currency = _text_of(get("currency"), "currency", 3)
    if currency is not None:
        currency = currency.upper()
        if not _CURRENCY.match(currency) or not currencies.is_currency(currency):
            raise BadRequest("currency: an ISO 4217 code such as USD", code="invalid_parameter")
    offer_id = _id(get("offer_id"), "offer_id")
    # Positional, in Said's order (a NamedTuple's keywords cost twice the call).
    return Said(
        click_id,
        _text_of(get("txid"), "txid", MAX_TXID_CHARS),
        _money(get("amount"), "amount"),
        _money(get("payout"), "payout"),
        currency,
        status,
        event,
        offer_id,
        _text_of(get("customer_id"), "customer_id", MAX_CUSTOMER_CHARS),
        _text_of(get("coupon"), "coupon", MAX_COUPON_CHARS),
    )
