from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from app import worker as stream_worker
from app.catalog import service as catalog_service
from app.settings import Settings
from tests.helpers import affiliate_headers, assert_error, create

API = "/api/v1/affiliates"


async def act(
    client: httpx.AsyncClient, headers: dict[str, str], affiliate_id: int, action: str, **body: Any
) -> httpx.Response:
    return await client.post(f"{API}/{affiliate_id}/{action}", json=body or None, headers=headers)


async def history(
    client: httpx.AsyncClient, headers: dict[str, str], affiliate_id: int
) -> list[dict[str, Any]]:
    response = await client.get(f"{API}/{affiliate_id}/history", headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def applicant(pool: asyncpg.Pool, client: httpx.AsyncClient, email: str) -> int:
    response = await client.post("/apply", json={"name": "Applicant", "email": email})
    assert response.status_code == 202, response.text
    affiliate_id: int = await pool.fetchval("SELECT id FROM affiliates WHERE email = $1", email)
    return affiliate_id


async def test_the_whole_lifecycle_is_recorded_with_who_and_why(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    key = await create(client, "keys", {"role": "admin", "name": "manager"}, admin)
    manager = {"Authorization": f"Bearer {key['key']}"}
    affiliate_id = await applicant(pool, client, "new@aff.example")

    approved = await act(client, manager, affiliate_id, "approve", reason="good site")
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "active"
    suspended = await act(client, admin, affiliate_id, "suspend", reason="fraud check")
    assert suspended.json()["status"] == "suspended"
    assert (await act(client, admin, affiliate_id, "reactivate")).json()["status"] == "active"

    steps = await history(client, admin, affiliate_id)
    assert [(h["kind"], h["from"], h["to"], h["reason"]) for h in steps] == [
        ("status", None, "applied", "applied"),
        ("status", "applied", "active", "good site"),
        ("status", "active", "suspended", "fraud check"),
        ("status", "suspended", "active", None),
    ]
    assert [(h["actor_role"], h["actor_key_id"]) for h in steps] == [
        ("apply", None),
        ("admin", key["id"]),
        ("admin", None),
        ("admin", None),
    ]
    assert all(h["created_at"] for h in steps)


@pytest.mark.parametrize(
    ("start", "action"),
    [
        ("archived", "approve"),
        ("suspended", "approve"),
        ("active", "reject"),
        ("archived", "suspend"),
        ("applied", "suspend"),
        ("applied", "reactivate"),
        ("rejected", "reactivate"),
    ],
)
async def test_invalid_transitions_are_409_and_change_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool, start: str, action: str
) -> None:
    affiliate = await create(client, "affiliates", {"name": "Alice"}, admin)
    await pool.execute("UPDATE affiliates SET status = $2 WHERE id = $1", affiliate["id"], start)
    before = await pool.fetch("SELECT * FROM affiliate_history ORDER BY id")

    error = assert_error(
        await act(client, admin, affiliate["id"], action), 409, "invalid_transition"
    )

    assert start in error["message"]
    assert await pool.fetchval("SELECT status FROM affiliates") == start
    assert await pool.fetch("SELECT * FROM affiliate_history ORDER BY id") == before


async def test_repeating_an_action_is_no_change(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    affiliate = await create(client, "affiliates", {"name": "Alice"}, admin)
    for action in ("approve", "reactivate", "suspend", "suspend"):
        assert (await act(client, admin, affiliate["id"], action)).status_code == 200
    assert [h["to"] for h in await history(client, admin, affiliate["id"])] == [
        "active",
        "suspended",
    ]


async def test_actions_need_an_admin_key_and_an_existing_affiliate(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    affiliate = await create(client, "affiliates", {"name": "Alice"}, admin)
    own = await affiliate_headers(client, admin, affiliate["id"])
    for action in ("approve", "reject", "suspend", "reactivate"):
        assert_error(await act(client, own, affiliate["id"], action), 403, "forbidden")
        assert_error(await act(client, admin, 999, action), 404, "not_found")
    assert_error(await act(client, admin, affiliate["id"], "suspend", reason=5), 400)
    assert await pool.fetchval("SELECT status FROM affiliates") == "active"


async def test_patch_status_follows_the_lifecycle_and_is_recorded(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    affiliate = await create(client, "affiliates", {"name": "Alice"}, admin)
    path = f"{API}/{affiliate['id']}"

    # `paused` is the old name of `suspended`.
    paused = await client.patch(path, json={"status": "paused"}, headers=admin)
    assert paused.json()["status"] == "suspended"
    await pool.execute("UPDATE affiliates SET status = 'rejected'")
    assert_error(
        await client.patch(path, json={"status": "suspended"}, headers=admin),
        409,
        "invalid_transition",
    )
    assert (await client.patch(path, json={"status": "active"}, headers=admin)).status_code == 200

    steps = await history(client, admin, affiliate["id"])
    assert [(h["from"], h["to"]) for h in steps] == [
        (None, "active"),
        ("active", "suspended"),
        ("rejected", "active"),
    ]


async def test_delete_of_a_referenced_affiliate_archives_it_on_the_record(
    client: httpx.AsyncClient, admin: dict[str, str], catalog: dict[str, Any]
) -> None:
    alice = catalog["alice"]["id"]
    assert (await client.delete(f"{API}/{alice}", headers=admin)).status_code == 204

    assert (await history(client, admin, alice))[-1]["to"] == "archived"
    assert (await act(client, admin, alice, "reactivate")).json()["status"] == "active"


async def test_an_affiliate_reads_its_own_history_only(
    client: httpx.AsyncClient, admin: dict[str, str], catalog: dict[str, Any]
) -> None:
    alice, bob = catalog["alice"]["id"], catalog["bob"]["id"]
    own = await affiliate_headers(client, admin, alice)

    assert [h["to"] for h in await history(client, own, alice)] == ["active"]
    assert_error(await client.get(f"{API}/{bob}/history", headers=own), 403, "forbidden")
    assert_error(await client.get(f"{API}/{alice}/history"), 401)
    assert_error(await client.get(f"{API}/999/history", headers=admin), 404)


@pytest.mark.parametrize("status", ["suspended", "applied", "rejected", "archived"])
async def test_links_of_an_affiliate_not_active_divert_and_count_as_diverted(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    catalog: dict[str, Any],
    settings: Settings,
    pool: asyncpg.Pool,
    status: str,
) -> None:
    cache = app.state.redirector.cache
    await cache.load()
    alice = catalog["alice"]["id"]
    alice_key = await affiliate_headers(client, admin, alice)
    if status == "suspended":
        assert (await act(client, admin, alice, "suspend")).status_code == 200
    elif status == "archived":
        assert (await client.delete(f"{API}/{alice}", headers=admin)).status_code == 204
    else:
        # No action leads from active to these: an applicant never approved, or rejected.
        await pool.execute(
            "UPDATE affiliates SET status = $2, updated_at = now() WHERE id = $1", alice, status
        )
        await catalog_service.notify_changed(app.state.resources.redis)

    # The catalog version moved: the link cache reloads what changed at its next poll.
    assert await cache.refresh_if_changed() is True
    diverted = await client.get(f"/c/{catalog['alice_link']['code']}")
    kept = await client.get(f"/c/{catalog['bob_link']['code']}")
    assert diverted.headers["location"] == "https://shop.example/"
    assert kept.headers["location"].startswith("https://shop.example/landing")
    assert_error(await client.get("/api/v1/links", headers=alice_key), 403, "affiliate_inactive")

    await stream_worker.run(settings, burst=True)
    rows = await pool.fetch("SELECT affiliate_id, diverted FROM clicks ORDER BY affiliate_id")
    assert [(r["affiliate_id"], r["diverted"]) for r in rows] == [
        (alice, "affiliate_inactive"),
        (catalog["bob"]["id"], None),
    ]

    if status == "suspended":
        assert (await act(client, admin, alice, "reactivate")).status_code == 200
        assert await cache.refresh_if_changed() is True
        back = await client.get(f"/c/{catalog['alice_link']['code']}")
        assert back.headers["location"].startswith("https://shop.example/landing")
        assert (await client.get("/api/v1/links", headers=alice_key)).status_code == 200
