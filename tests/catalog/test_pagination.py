"""Limit and cursor handling, shared by every list endpoint (app/pagination.py)."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import assert_error, create

LISTS = [
    "/api/v1/advertisers",
    "/api/v1/offers",
    "/api/v1/affiliates",
    "/api/v1/links",
    "/api/v1/keys",
]


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("abc", id="text"),
        pytest.param("-1", id="negative"),
        pytest.param("1.5", id="fraction"),
        pytest.param(" 7", id="space"),
        pytest.param("0x10", id="hex"),
        pytest.param("²", id="superscript-digit"),
        pytest.param("1" * 19, id="too-many-digits"),
        pytest.param("9" * 40, id="too-long"),
        pytest.param("'; DROP TABLE advertisers; --", id="sql"),
    ],
)
async def test_garbage_cursor_is_400(
    client: httpx.AsyncClient, admin: dict[str, str], cursor: str
) -> None:
    await create(client, "advertisers", {"name": "Acme"}, admin)

    response = await client.get("/api/v1/advertisers", params={"cursor": cursor}, headers=admin)

    assert_error(response, 400)
    assert len((await client.get("/api/v1/advertisers", headers=admin)).json()["items"]) == 1


@pytest.mark.parametrize("limit", ["0", "-1", "501", "100000", "ten", "2.5", ""])
async def test_out_of_range_limit_is_400(
    client: httpx.AsyncClient, admin: dict[str, str], limit: str
) -> None:
    response = await client.get("/api/v1/advertisers", params={"limit": limit}, headers=admin)

    assert_error(response, 400, "invalid_request")


@pytest.mark.parametrize("path", LISTS)
async def test_every_list_checks_limit_and_cursor(
    client: httpx.AsyncClient, admin: dict[str, str], path: str
) -> None:
    assert_error(await client.get(path, params={"limit": 0}, headers=admin), 400)
    assert_error(await client.get(path, params={"cursor": "zzz"}, headers=admin), 400)
    response = await client.get(path, params={"limit": 500}, headers=admin)
    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}


async def test_a_cursor_past_the_end_gives_an_empty_page(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await create(client, "advertisers", {"name": "Acme"}, admin)

    response = await client.get("/api/v1/advertisers", params={"cursor": "999999"}, headers=admin)

    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}
