"""Offer and postback URLs are whole URLs, currencies are ISO 4217 codes, and messages
read as the validators wrote them."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from tests.catalog.conftest import offer_body
from tests.helpers import assert_error, create

PORT = "has a port that is not a number from 1 to 65535"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://shop.example:99999/landing", PORT),
        ("https://shop.example:abc/landing", PORT),
        ("https://shop.example:0/landing", PORT),
        ("https://shop.example:/landing", PORT),
        ("https://shop.example:-1/landing", PORT),
        ("https://shop.example@evil.example/", "must not contain a user name or password"),
        ("https://user:pw@shop.example/", "must not contain a user name or password"),
        ("https://shop..example/", "has an invalid host name 'shop..example'"),
        ("https://-shop.example/", "has an invalid host name '-shop.example'"),
        ("https://shop!.example/", "has an invalid host name 'shop!.example'"),
        ("https://999.1.1.1/", "has an invalid IPv4 address '999.1.1.1'"),
        ("https://[::1/", "must be a valid URL (Invalid IPv6 URL)"),
        ("https://[fe80::zz]/", "must be a valid URL"),
        ("https://shop.example\\@evil.example/", "must not contain a backslash"),
        ("https://shop.example/?q=100%", "has a % that is not followed by two hex digits"),
    ],
)
async def test_an_offer_url_must_be_a_whole_url(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    advertiser: dict[str, Any],
    pool: asyncpg.Pool,
    url: str,
    message: str,
) -> None:
    for field in ("url", "fallback_url"):
        response = await client.post(
            "/api/v1/offers", json=offer_body(advertiser["id"], **{field: url}), headers=admin
        )

        error = assert_error(response, 400, "invalid_request")
        assert error["message"].startswith(f"{field}: {message}"), error
    assert await pool.fetchval("SELECT count(*) FROM offers") == 0


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example:65535/landing?c={click_id}",
        "https://shop.example:1/",
        "http://203.0.113.7:8080/x",
        "https://[2001:db8::1]:8443/x?c={click_id}",
        "https://münchen.example/angebot",
        "https://shop.example./",
        "https://my_shop.example/",
        "https://shop.example/?q=100%25&c={click_id}#top",
    ],
)
async def test_whole_urls_are_taken_as_they_are(
    client: httpx.AsyncClient, admin: dict[str, str], advertiser: dict[str, Any], url: str
) -> None:
    offer = await create(client, "offers", offer_body(advertiser["id"], url=url), admin)

    assert offer["url"] == url


async def test_an_affiliate_postback_url_must_have_a_valid_port(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/affiliates",
        json={"name": "Alice", "postback_url": "https://aff.example:99999/pb?c={click_id}"},
        headers=admin,
    )

    error = assert_error(response, 400, "invalid_request")
    assert error["message"] == f"postback_url: {PORT}"


@pytest.mark.parametrize("currency", ["ZZZ", "XXX", "XTS", "XAU", "ABC"])
async def test_an_offer_currency_must_be_an_iso_4217_currency(
    client: httpx.AsyncClient, admin: dict[str, str], offer: dict[str, Any], currency: str
) -> None:
    response = await client.post(
        "/api/v1/offers",
        json=offer_body(offer["advertiser_id"], currency=currency),
        headers=admin,
    )
    error = assert_error(response, 400, "invalid_request")
    assert error["message"] == (
        f"currency: {currency!r} is not an ISO 4217 currency code such as USD or EUR"
    )
    response = await client.patch(
        f"/api/v1/offers/{offer['id']}", json={"currency": currency}, headers=admin
    )
    assert_error(response, 400, "invalid_request")


@pytest.mark.parametrize("currency", ["EUR", "JPY", "KWD", "CLF", "VED", "ZWG"])
async def test_iso_4217_currencies_are_taken(
    client: httpx.AsyncClient, admin: dict[str, str], advertiser: dict[str, Any], currency: str
) -> None:
    offer = await create(client, "offers", offer_body(advertiser["id"], currency=currency), admin)

    assert offer["currency"] == currency


async def test_offers_stored_before_the_checks_are_kept_as_they_are(
    client: httpx.AsyncClient, admin: dict[str, str], offer: dict[str, Any], pool: asyncpg.Pool
) -> None:
    old_url = "https://shop.example:99999/landing"
    await pool.execute(
        "UPDATE offers SET url = $1, currency = 'ZZZ' WHERE id = $2", old_url, offer["id"]
    )

    response = await client.patch(
        f"/api/v1/offers/{offer['id']}", json={"name": "Renamed"}, headers=admin
    )

    assert response.status_code == 200, response.text
    assert (response.json()["url"], response.json()["currency"]) == (old_url, "ZZZ")
    listed = await client.get("/api/v1/offers", headers=admin)
    assert listed.status_code == 200
    [item] = listed.json()["items"]
    assert (item["url"], item["currency"], item["name"]) == (old_url, "ZZZ", "Renamed")


async def test_a_validator_s_message_has_no_pydantic_prefix(
    client: httpx.AsyncClient, admin: dict[str, str], advertiser: dict[str, Any]
) -> None:
    body = offer_body(advertiser["id"], revenue={"type": "percent", "value": "150"})

    response = await client.post("/api/v1/offers", json=body, headers=admin)

    error = assert_error(response, 400, "invalid_request")
    assert error["message"] == "revenue: a percent rule must be between 0 and 100"
    assert [d["message"] for d in error["details"]] == ["a percent rule must be between 0 and 100"]
