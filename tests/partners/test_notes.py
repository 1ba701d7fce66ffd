from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from tests.helpers import affiliate_headers, assert_error, create

API = "/api/v1/affiliates"


async def test_admins_write_and_read_notes_in_order(
    client: httpx.AsyncClient, admin: dict[str, str], affiliate: dict[str, Any]
) -> None:
    key = await create(client, "keys", {"role": "admin", "name": "manager"}, admin)
    manager = {"Authorization": f"Bearer {key['key']}"}
    path = f"{API}/{affiliate['id']}/notes"

    first = await client.post(path, json={"text": "  called, all good  "}, headers=manager)
    second = await client.post(path, json={"text": "asked for a higher rate"}, headers=admin)

    assert first.status_code == 201, first.text
    assert (first.json()["text"], first.json()["author_key_id"]) == ("called, all good", key["id"])
    assert second.json()["author_key_id"] is None
    listed = (await client.get(path, headers=admin)).json()
    assert listed == {"items": [first.json(), second.json()], "next_cursor": None}
    page = (await client.get(path, params={"limit": 1}, headers=admin)).json()
    assert page["items"] == [first.json()]
    assert page["next_cursor"] is not None


async def test_notes_are_admin_only_and_bad_input_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str], affiliate: dict[str, Any], pool: asyncpg.Pool
) -> None:
    own = await affiliate_headers(client, admin, affiliate["id"])
    path = f"{API}/{affiliate['id']}/notes"
    await client.post(path, json={"text": "hush-hush"}, headers=admin)

    assert_error(await client.get(path, headers=own), 403, "forbidden")
    assert_error(await client.post(path, json={"text": "mine"}, headers=own), 403, "forbidden")
    assert_error(await client.get(path), 401)
    # The notes never show on the affiliate itself.
    assert "hush-hush" not in (await client.get(f"{API}/{affiliate['id']}", headers=own)).text
    for bad in ({"text": ""}, {"text": "   "}, {"text": "x" * 10_001}, {}, {"text": 1}):
        assert_error(await client.post(path, json=bad, headers=admin), 400)
    assert_error(await client.post(f"{API}/999/notes", json={"text": "x"}, headers=admin), 404)
    assert_error(await client.get(f"{API}/999/notes", headers=admin), 404)
    assert await pool.fetchval("SELECT count(*) FROM affiliate_notes") == 1
