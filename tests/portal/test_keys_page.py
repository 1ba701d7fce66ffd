"""The keys screen's "Last used": when a key last authenticated, or never."""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi import FastAPI

from app.db import Pool
from tests.helpers import create
from tests.support.portal import owner_and_manager, signed_in


def row_of(page: httpx.Response, key_id: int) -> str:
    match = re.search(rf'<tr data-id="{key_id}">(.*?)</tr>', page.text, re.S)
    assert match, page.text[-2000:]
    return match[1]


async def test_the_keys_screen_says_when_each_key_was_last_used(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    await owner_and_manager(app, client, admin, pool, zone="Asia/Tokyo")
    used = await create(client, "keys", {"role": "admin", "name": "used"}, admin)
    idle = await create(client, "keys", {"role": "admin", "name": "idle"}, admin)
    await pool.execute(
        "UPDATE api_keys SET last_used_at = '2026-11-30 23:30:00+00' WHERE id = $1", used["id"]
    )
    async with signed_in(app, "owner@example.com") as person:
        page = await person.get("/manage/keys")

    assert page.status_code == 200
    assert "Last used" in page.text
    # In the owner's zone, UTC on hover.
    assert '<time datetime="2026-11-30T23:30:00+00:00"' in row_of(page, used["id"])
    assert "2026-12-01 08:30" in row_of(page, used["id"])
    assert "never" in row_of(page, idle["id"])
    assert "never" not in row_of(page, used["id"])


async def test_a_use_shows_on_the_screen(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    await owner_and_manager(app, client, admin, pool)
    key: dict[str, Any] = await create(client, "keys", {"role": "admin", "name": "ci"}, admin)
    async with signed_in(app, "owner@example.com") as person:
        assert "never" in row_of(await person.get("/manage/keys"), key["id"])
        answer = await client.get(
            "/api/v1/offers", headers={"Authorization": f"Bearer {key['key']}"}
        )
        assert answer.status_code == 200
        assert "never" not in row_of(await person.get("/manage/keys"), key["id"])
