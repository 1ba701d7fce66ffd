"""An offer's targeting through the offers API: stored, read back, replaced, removed, and
bad input refused with a clear 400."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.catalog.conftest import offer_body
from tests.helpers import assert_error, create

OPEN = {"countries": [], "country_mode": "allow", "devices": []}


async def test_an_offer_is_made_open_and_targeted_by_create_and_patch(
    client: httpx.AsyncClient, admin: dict[str, str], advertiser: dict[str, Any]
) -> None:
    plain = await create(client, "offers", offer_body(advertiser["id"]), admin)
    assert plain["targeting"] == OPEN

    targeting = {"countries": ["DE", "AT"], "country_mode": "allow", "devices": ["mobile"]}
    made = await create(client, "offers", offer_body(advertiser["id"], targeting=targeting), admin)
    assert made["targeting"] == targeting
    read = await client.get(f"/api/v1/offers/{made['id']}", headers=admin)
    assert read.json()["targeting"] == targeting

    # A targeting given replaces the stored one whole; other fields stay.
    blocked = {"countries": ["RU"], "country_mode": "block"}
    patched = await client.patch(
        f"/api/v1/offers/{made['id']}", json={"targeting": blocked}, headers=admin
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["targeting"] == {**blocked, "devices": []}
    assert patched.json()["name"] == made["name"]

    untouched = await client.patch(
        f"/api/v1/offers/{made['id']}", json={"name": "Renamed"}, headers=admin
    )
    assert untouched.json()["targeting"] == {**blocked, "devices": []}

    removed = await client.patch(
        f"/api/v1/offers/{made['id']}", json={"targeting": None}, headers=admin
    )
    assert removed.json()["targeting"] == OPEN
    listed = await client.get("/api/v1/offers", headers=admin)
    assert {o["id"]: o["targeting"] for o in listed.json()["items"]}[made["id"]] == OPEN


@pytest.mark.parametrize(
    ("targeting", "field", "said"),
    [
        ({"countries": ["XX"]}, "targeting.countries.0", "ISO 3166-1 alpha-2"),
        ({"countries": ["de"]}, "targeting.countries.0", "upper case"),
        ({"countries": ["DE", "AT", "DE"]}, "targeting.countries", "DE is listed twice"),
        ({"countries": "DE"}, "targeting.countries", "list"),
        ({"country_mode": "deny"}, "targeting.country_mode", "allow"),
        ({"devices": ["phone"]}, "targeting.devices.0", "desktop"),
        ({"devices": ["mobile", "mobile"]}, "targeting.devices", "mobile is listed twice"),
        ({"regions": ["BY"]}, "targeting.regions", "not permitted"),
    ],
)
async def test_bad_targeting_is_a_400_naming_the_field(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    advertiser: dict[str, Any],
    offer: dict[str, Any],
    targeting: dict[str, Any],
    field: str,
    said: str,
) -> None:
    made = await client.post(
        "/api/v1/offers", json=offer_body(advertiser["id"], targeting=targeting), headers=admin
    )
    error = assert_error(made, 400, "invalid_request")
    assert error["message"].startswith(f"{field}: "), error
    assert said in error["message"], error
    patched = await client.patch(
        f"/api/v1/offers/{offer['id']}", json={"targeting": targeting}, headers=admin
    )
    assert assert_error(patched, 400, "invalid_request")["message"] == error["message"]
    stored = await client.get(f"/api/v1/offers/{offer['id']}", headers=admin)
    assert stored.json()["targeting"] == OPEN


async def test_the_schema_states_targeting(client: httpx.AsyncClient) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    targeting = schemas["Targeting"]["properties"]
    assert targeting["devices"]["items"]["enum"] == ["desktop", "mobile", "tablet"]
    assert targeting["devices"]["uniqueItems"] is True
    assert "DE" in targeting["countries"]["items"]["enum"]
    assert targeting["country_mode"]["enum"] == ["allow", "block"]
    assert schemas["Targeting"]["additionalProperties"] is False
    for body in ("OfferIn", "OfferOut"):
        assert schemas[body]["properties"]["targeting"]["$ref"].endswith("/Targeting")
    assert "targeting" in schemas["OfferOut"]["required"]
