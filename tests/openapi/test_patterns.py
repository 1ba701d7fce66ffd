"""Every string a documented pattern admits is taken by the check behind it, and strings
outside it are refused: the document's patterns are the validators' own."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from email_validator import validate_email
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import currencies, macros, patterns
from app.catalog.fields import Rule
from app.money import parse_money

EXAMPLES = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


@EXAMPLES
@given(st.from_regex(re.compile(patterns.EMAIL), fullmatch=True))
def test_every_email_the_pattern_admits_is_valid(address: str) -> None:
    validate_email(address, check_deliverability=False)


@EXAMPLES
@given(st.from_regex(re.compile(patterns.NETWORK), fullmatch=True))
def test_every_network_the_pattern_admits_is_valid(network: str) -> None:
    ipaddress.ip_network(network, strict=False)


@EXAMPLES
@given(st.from_regex(re.compile(patterns.DATE_OR_TIME), fullmatch=True))
def test_every_date_or_time_the_pattern_admits_is_valid(text: str) -> None:
    if text:
        datetime.fromisoformat(text)


@EXAMPLES
@given(st.from_regex(re.compile(macros.OFFER_URL), fullmatch=True))
def test_every_offer_url_the_pattern_admits_is_valid(url: str) -> None:
    if len(url) <= macros.MAX_URL_LENGTH:
        assert macros.validate_url_template(url, macros.OFFER_MACROS) == url


@EXAMPLES
@given(st.from_regex(re.compile(macros.AFFILIATE_POSTBACK_URL), fullmatch=True))
def test_every_postback_url_the_pattern_admits_is_valid(url: str) -> None:
    if len(url) <= macros.MAX_URL_LENGTH:
        assert macros.validate_url_template(url, macros.AFFILIATE_POSTBACK_MACROS) == url


@EXAMPLES
@given(st.from_regex(re.compile(patterns.MONEY), fullmatch=True))
def test_every_amount_the_pattern_admits_is_money(text: str) -> None:
    parse_money(text)


@EXAMPLES
@given(st.text(alphabet="0123456789.-+_e \t\u0665", max_size=12))
def test_a_percent_is_taken_exactly_where_its_pattern_admits_it(text: str) -> None:
    try:
        taken = Rule.model_validate({"type": "percent", "value": text}) is not None
    except ValueError:
        taken = False
    assert taken == patterns.matches(patterns.PERCENT, text)


@EXAMPLES
@given(st.text(alphabet="0123456789.-+_e \t\u0665", max_size=24))
def test_money_text_is_taken_exactly_where_the_pattern_admits_it(text: str) -> None:
    try:
        parse_money(text)
    except ValueError:
        taken = False
    else:
        taken = True
    assert taken == patterns.matches(patterns.MONEY, text)


def test_json_minus_zero_is_the_amount_zero() -> None:
    # The schema's `minimum: 0` admits -0.0, a JSON number equal to zero.
    amount = parse_money(-0.0)

    assert (amount, amount.is_signed()) == (Decimal(0), False)


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (patterns.MONEY, ""),
        (patterns.MONEY, "-0"),
        (patterns.MONEY, "1.00000"),
        (patterns.MONEY, "100000000000000"),
        (macros.OFFER_URL, ""),
        (macros.OFFER_URL, "https://shop.example/?c={click_id"),  # urlsplit takes these
        (macros.OFFER_URL, "https://shop.example/}"),
        (macros.OFFER_URL, "https://shop.example/?t={txid}"),  # a postback's macro
        (macros.AFFILIATE_POSTBACK_URL, "https://aff.example/?a={affiliate_id}"),
        (macros.OFFER_URL, "https://shop.example:080/"),
        (macros.OFFER_URL, "https://\u043f\u0440\u0438\u043c\u0435\u0440.example/"),
        (macros.OFFER_URL, "https://shop.example/\U0001f600"),
        (patterns.EMAIL, "alice@shop.test"),  # special-use, refused by email-validator
        (patterns.EMAIL, "alice@a--b.example"),
        (patterns.EMAIL, "alice@localhost"),
        (patterns.NETWORK, "203.0.113.0/255.255.255.0"),
        (patterns.NETWORK, "010.0.0.1"),
        (patterns.NETWORK, "fe80::1%eth0"),
        (patterns.DATE_OR_TIME, "2026-02-29"),
        (patterns.DATE_OR_TIME, "20260101"),
        (patterns.DATE_OR_TIME, "9999-12-31"),
    ],
)
def test_the_patterns_leave_out(pattern: str, text: str) -> None:
    assert not patterns.matches(pattern, text)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("affiliates", {"name": "A", "email": "alice@shop.test"}, "email"),
        ("affiliates", {"name": "A", "email": "alice@a--b.example"}, "email"),
        ("advertisers", {"name": "A", "ip_allowlist": ["203.0.113.0/255.255.255.0"]}, "ip"),
        ("advertisers", {"name": "A", "ip_allowlist": ["fe80::1%eth0"]}, "ip"),
        ("affiliates", {"name": "A", "postback_url": ""}, "postback_url"),
        ("affiliates", {"name": "A", "postback_url": "https://aff.example/?c={txid"}, "url"),
        ("affiliates", {"name": "A", "postback_url": "https://aff.example/}"}, "url"),
    ],
)
async def test_the_api_refuses_what_the_pattern_leaves_out(
    client: httpx.AsyncClient, admin: dict[str, str], path: str, body: dict[str, Any], field: str
) -> None:
    response = await client.post(f"/api/v1/{path}", json=body, headers=admin)

    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_request"


async def test_the_document_states_the_patterns(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    assert schemas["AffiliateIn"]["properties"]["email"]["anyOf"][0]["pattern"] == patterns.EMAIL
    allowlist = schemas["AdvertiserIn"]["properties"]["ip_allowlist"]["items"]
    assert allowlist["pattern"] == patterns.NETWORK
    for model, field, pattern in (
        ("OfferIn", "url", macros.OFFER_URL),
        ("OfferIn", "fallback_url", macros.OFFER_URL),
        ("OfferPatch", "url", macros.OFFER_URL),
        ("AffiliateIn", "postback_url", macros.AFFILIATE_POSTBACK_URL),
        ("AffiliatePatch", "postback_url", macros.AFFILIATE_POSTBACK_URL),
    ):
        schema = schemas[model]["properties"][field]
        assert pattern in (schema.get("pattern"), schema.get("anyOf", [{}])[0].get("pattern"))
    assert schemas["OfferIn"]["properties"]["currency"]["enum"] == sorted(currencies.MINOR_UNITS)
    fixed, percent = (shape["properties"]["value"] for shape in schemas["Rule"]["anyOf"])
    assert (fixed["pattern"], percent["pattern"]) == (patterns.MONEY, patterns.PERCENT)
    # PATCH: null is offered exactly where it clears a value.
    assert {"type": "null"} in schemas["OfferPatch"]["properties"]["max_amount"]["anyOf"]
    assert {"type": "null"} in schemas["AdvertiserPatch"]["properties"]["signing_secret"]["anyOf"]
    for status in ("AdvertiserOut", "OfferOut", "AffiliateOut"):
        assert "archived" in schemas[status]["properties"]["status"]["enum"]
    parameters = {
        (path, p["name"]): p["schema"]
        for path in ("/api/v1/conversions", "/api/v1/stats", "/api/v1/advertisers")
        for p in document["paths"][path]["get"]["parameters"]
    }
    assert parameters["/api/v1/conversions", "from"]["pattern"] == patterns.DATE_OR_TIME
    assert parameters["/api/v1/stats", "to"]["pattern"] == patterns.DATE_OR_TIME
    assert parameters["/api/v1/stats", "format"]["enum"] == ["json", "csv"]
    assert parameters["/api/v1/advertisers", "status"]["anyOf"][0]["enum"] == [
        "active",
        "archived",
    ]


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        ("conversions", {"from": "20260101"}, "invalid_parameter"),  # fromisoformat takes it
        ("conversions", {"to": "2026-01-01T10"}, "invalid_parameter"),
        ("stats", {"from": "20251101"}, "invalid_range"),
        ("stats", {"to": " 2025-11-01"}, "invalid_range"),
        ("stats", {"limit": "+5"}, "invalid_limit"),
        ("stats", {"limit": "5_0"}, "invalid_limit"),
    ],
)
async def test_query_bounds_outside_the_pattern_are_refused(
    client: httpx.AsyncClient, admin: dict[str, str], path: str, params: dict[str, str], code: str
) -> None:
    response = await client.get(f"/api/v1/{path}", params=params, headers=admin)

    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code
