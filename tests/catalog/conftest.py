"""Catalog fixtures: one resource each, created through the API."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from tests.helpers import create

OFFER_URL = "https://shop.example/landing?cid={click_id}&aff={affiliate_id}&s1={sub1}"


async def count(pool: asyncpg.Pool, table: str = "offers") -> int:
    value: int = await pool.fetchval(f"SELECT count(*) FROM {table}")
    return value


async def get_offer(
    client: httpx.AsyncClient, admin: dict[str, str], offer_id: int
) -> dict[str, Any]:
    response = await client.get(f"/api/v1/offers/{offer_id}", headers=admin)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def offer_body(advertiser_id: int, /, **fields: Any) -> dict[str, Any]:
    """A valid offer body; keyword arguments add or replace fields."""
    return {"advertiser_id": advertiser_id, "name": "Shoes", "url": OFFER_URL, **fields}


@pytest.fixture
async def advertiser(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, Any]:
    return await create(client, "advertisers", {"name": "Acme"}, admin)


@pytest.fixture
async def offer(
    client: httpx.AsyncClient, admin: dict[str, str], advertiser: dict[str, Any]
) -> dict[str, Any]:
    return await create(client, "offers", offer_body(advertiser["id"]), admin)


@pytest.fixture
async def affiliate(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, Any]:
    return await create(client, "affiliates", {"name": "Alice"}, admin)
