"""Issue 11: an advertiser's signing secret through the API (write-only), and the offer's
pixel_policy, pixel_status and max_amount."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import httpx
import pytest

from tests.catalog.conftest import offer_body
from tests.helpers import assert_error, create

SECRET = "s3cret-for-signing-0123"


async def stored_secret(pool: asyncpg.Pool, advertiser_id: int) -> str | None:
    value: str | None = await pool.fetchval(
        "SELECT signing_secret FROM advertisers WHERE id = $1", advertiser_id
    )
    return value


async def test_a_signing_secret_is_set_on_create_and_never_returned(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    made = await create(client, "advertisers", {"name": "Signed", "signing_secret": SECRET}, admin)
    assert made["signing_secret_set"] is True
    assert await stored_secret(pool, made["id"]) == SECRET
    plain = await create(client, "advertisers", {"name": "Plain"}, admin)
    assert plain["signing_secret_set"] is False
    listed = await client.get("/api/v1/advertisers", headers=admin)
    fetched = await client.get(f"/api/v1/advertisers/{made['id']}", headers=admin)
    for response in (listed, fetched):
        assert response.status_code == 200
        assert SECRET not in response.text
        assert 'signing_secret"' not in response.text  # only signing_secret_set
    assert fetched.json()["signing_secret_set"] is True


async def test_patch_sets_changes_and_removes_the_secret(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool, advertiser: dict[str, Any]
) -> None:
    url = f"/api/v1/advertisers/{advertiser['id']}"
    response = await client.patch(url, json={"signing_secret": SECRET}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["signing_secret_set"] is True
    assert SECRET not in response.text
    assert await stored_secret(pool, advertiser["id"]) == SECRET
    # Another field alone keeps the secret.
    response = await client.patch(url, json={"name": "Renamed"}, headers=admin)
    assert response.json()["signing_secret_set"] is True
    response = await client.patch(url, json={"signing_secret": SECRET + "-2"}, headers=admin)
    assert await stored_secret(pool, advertiser["id"]) == SECRET + "-2"
    response = await client.patch(url, json={"signing_secret": None}, headers=admin)
    assert response.json()["signing_secret_set"] is False
    assert await stored_secret(pool, advertiser["id"]) is None


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param("short-Secret1", id="too-short"),
        pytest.param("with space in the middle", id="space"),
        pytest.param(12345678901234567890, id="number"),
        pytest.param("x" * 201, id="too-long"),
    ],
)
async def test_a_bad_secret_is_refused_without_echoing_it(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: asyncpg.Pool,
    advertiser: dict[str, Any],
    secret: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    created = await client.post(
        "/api/v1/advertisers", json={"name": "Bad", "signing_secret": secret}, headers=admin
    )
    patched = await client.patch(
        f"/api/v1/advertisers/{advertiser['id']}", json={"signing_secret": secret}, headers=admin
    )
    for response in (created, patched):
        assert_error(response, 400, "invalid_request")
        assert str(secret) not in response.text
    assert str(secret) not in caplog.text
    assert await pool.fetchval("SELECT count(*) FROM advertisers") == 1
    assert await stored_secret(pool, advertiser["id"]) is None


async def test_offer_pixel_fields_default_and_round_trip(
    client: httpx.AsyncClient, admin: dict[str, str], advertiser: dict[str, Any]
) -> None:
    offer = await create(client, "offers", offer_body(advertiser["id"]), admin)
    assert (offer["pixel_policy"], offer["pixel_status"], offer["max_amount"]) == (
        "auto",
        "pending",
        None,
    )
    capped = await create(
        client,
        "offers",
        offer_body(
            advertiser["id"], pixel_policy="deny", pixel_status="approved", max_amount="500"
        ),
        admin,
    )
    assert (capped["pixel_policy"], capped["pixel_status"], capped["max_amount"]) == (
        "deny",
        "approved",
        "500.00",
    )
    url = f"/api/v1/offers/{capped['id']}"
    response = await client.patch(
        url, json={"pixel_policy": "allow", "max_amount": "99.995"}, headers=admin
    )
    assert response.status_code == 200, response.text
    assert (response.json()["pixel_policy"], response.json()["max_amount"]) == ("allow", "99.995")
    assert response.json()["pixel_status"] == "approved"  # untouched
    response = await client.patch(url, json={"max_amount": None}, headers=admin)
    assert response.json()["max_amount"] is None
    assert (await client.get(url, headers=admin)).json() == response.json()


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"pixel_policy": "sometimes"}, id="policy"),
        pytest.param({"pixel_policy": None}, id="policy-null"),
        pytest.param({"pixel_status": "rejected"}, id="status-rejected"),
        pytest.param({"pixel_status": None}, id="status-null"),
        pytest.param({"max_amount": "-1"}, id="negative"),
        pytest.param({"max_amount": "1.00001"}, id="five-places"),
        pytest.param({"max_amount": "1e400"}, id="huge"),
        pytest.param({"max_amount": True}, id="bool"),
    ],
)
async def test_bad_offer_pixel_fields_are_refused(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    advertiser: dict[str, Any],
    offer: dict[str, Any],
    fields: dict[str, Any],
) -> None:
    if None not in fields.values():
        assert_error(
            await client.post(
                "/api/v1/offers", json=offer_body(advertiser["id"], **fields), headers=admin
            ),
            400,
        )
    url = f"/api/v1/offers/{offer['id']}"
    assert_error(await client.patch(url, json=fields, headers=admin), 400)
    assert (await client.get(url, headers=admin)).json() == offer
