from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import ADMIN_KEY
from tests.helpers import affiliate_headers, assert_error, create

ADMIN_ONLY_READS = [
    "/api/v1/advertisers",
    "/api/v1/advertisers/1",
    "/api/v1/offers",
    "/api/v1/offers/1",
    "/api/v1/keys",
]
KEYED_READS = [*ADMIN_ONLY_READS, "/api/v1/affiliates", "/api/v1/links", "/api/v1/links/1"]


@pytest.mark.parametrize("path", KEYED_READS)
async def test_missing_key_is_401(
    client: httpx.AsyncClient, catalog: dict[str, Any], path: str
) -> None:
    response = await client.get(path)

    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("Bearer trk_not-a-real-key", id="unknown-key"),
        pytest.param(f"Bearer {ADMIN_KEY}x", id="admin-key-plus-one"),
        pytest.param(f"Bearer {ADMIN_KEY[:-1]}", id="admin-key-minus-one"),
        pytest.param(f"Basic {ADMIN_KEY}", id="wrong-scheme"),
        pytest.param(ADMIN_KEY, id="no-scheme"),
        pytest.param("Bearer", id="scheme-only"),
        pytest.param("Bearer ", id="empty-key"),
    ],
)
async def test_wrong_key_is_401(
    client: httpx.AsyncClient, catalog: dict[str, Any], authorization: str
) -> None:
    response = await client.get("/api/v1/advertisers", headers={"Authorization": authorization})

    assert_error(response, 401, "unauthorized")


async def test_a_write_without_a_key_changes_nothing(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    response = await client.post("/api/v1/advertisers", json={"name": "Acme"})

    assert_error(response, 401, "unauthorized")
    assert await pool.fetchval("SELECT count(*) FROM advertisers") == 0


async def test_the_environment_admin_key_is_accepted(client: httpx.AsyncClient) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}

    created = await client.post("/api/v1/advertisers", json={"name": "Acme"}, headers=headers)

    assert created.status_code == 201
    assert (await client.get("/api/v1/keys", headers=headers)).status_code == 200


async def test_a_revoked_key_is_401(
    client: httpx.AsyncClient, admin: dict[str, str], catalog: dict[str, Any]
) -> None:
    headers = await affiliate_headers(client, admin, catalog["alice"]["id"])
    assert (await client.get("/api/v1/links", headers=headers)).status_code == 200
    [key] = (await client.get("/api/v1/keys", headers=admin)).json()["items"]

    assert (await client.delete(f"/api/v1/keys/{key['id']}", headers=admin)).status_code == 200

    assert_error(await client.get("/api/v1/links", headers=headers), 401, "unauthorized")


async def test_archiving_an_affiliate_stops_its_keys_and_restoring_it_restores_them(
    client: httpx.AsyncClient, admin: dict[str, str], catalog: dict[str, Any]
) -> None:
    alice = catalog["alice"]["id"]
    headers = await affiliate_headers(client, admin, alice)
    assert (await client.get("/api/v1/links", headers=headers)).status_code == 200

    # Its link and key refer to it, so DELETE archives it.
    assert (await client.delete(f"/api/v1/affiliates/{alice}", headers=admin)).status_code == 204
    archived = await client.get(f"/api/v1/affiliates/{alice}", headers=admin)
    assert archived.json()["status"] == "archived"

    for path in ("/api/v1/links", f"/api/v1/affiliates/{alice}", "/api/v1/stats"):
        error = assert_error(await client.get(path, headers=headers), 403, "affiliate_inactive")
        assert "archived" in error["message"]

    restored = await client.patch(
        f"/api/v1/affiliates/{alice}", json={"status": "active"}, headers=admin
    )
    assert restored.status_code == 200, restored.text
    assert (await client.get("/api/v1/links", headers=headers)).status_code == 200


async def test_pausing_an_affiliate_stops_its_keys_until_it_is_active_again(
    client: httpx.AsyncClient, admin: dict[str, str], catalog: dict[str, Any]
) -> None:
    alice, bob = catalog["alice"]["id"], catalog["bob"]["id"]
    alice_headers = await affiliate_headers(client, admin, alice)
    bob_headers = await affiliate_headers(client, admin, bob)

    paused = await client.patch(
        f"/api/v1/affiliates/{alice}", json={"status": "paused"}, headers=admin
    )
    assert paused.status_code == 200, paused.text

    error = assert_error(
        await client.get("/api/v1/links", headers=alice_headers), 403, "affiliate_inactive"
    )
    assert "suspended" in error["message"]
    # Other affiliates' keys and admin keys are untouched.
    assert (await client.get("/api/v1/links", headers=bob_headers)).status_code == 200
    assert (await client.get("/api/v1/affiliates", headers=admin)).status_code == 200

    await client.patch(f"/api/v1/affiliates/{alice}", json={"status": "active"}, headers=admin)
    assert (await client.get("/api/v1/links", headers=alice_headers)).status_code == 200


async def test_an_affiliate_status_change_in_the_database_reaches_keys_at_once(
    client: httpx.AsyncClient, admin: dict[str, str], catalog: dict[str, Any], pool: asyncpg.Pool
) -> None:
    """No web process keeps an old answer: the status is read with the key itself, so a
    change made by another process (here: straight in PostgreSQL) counts on the next
    request."""
    alice = catalog["alice"]["id"]
    headers = await affiliate_headers(client, admin, alice)
    assert (await client.get("/api/v1/links", headers=headers)).status_code == 200

    for status in ("archived", "suspended", "applied", "rejected"):
        await pool.execute("UPDATE affiliates SET status = $2 WHERE id = $1", alice, status)
        assert_error(await client.get("/api/v1/links", headers=headers), 403, "affiliate_inactive")
        await pool.execute("UPDATE affiliates SET status = 'active' WHERE id = $1", alice)
        assert (await client.get("/api/v1/links", headers=headers)).status_code == 200


# --- affiliate keys ----------------------------------------------------------------


@pytest.fixture
async def alice_key(
    client: httpx.AsyncClient, admin: dict[str, str], catalog: dict[str, Any]
) -> dict[str, str]:
    return await affiliate_headers(client, admin, catalog["alice"]["id"])


async def test_affiliate_key_lists_only_its_own_affiliate(
    client: httpx.AsyncClient, catalog: dict[str, Any], alice_key: dict[str, str]
) -> None:
    response = await client.get("/api/v1/affiliates", headers=alice_key)

    assert response.status_code == 200
    assert response.json() == {"items": [catalog["alice"]], "next_cursor": None}


async def test_affiliate_key_reads_its_own_affiliate(
    client: httpx.AsyncClient, catalog: dict[str, Any], alice_key: dict[str, str]
) -> None:
    response = await client.get(f"/api/v1/affiliates/{catalog['alice']['id']}", headers=alice_key)

    assert response.status_code == 200
    assert response.json() == catalog["alice"]


async def test_affiliate_key_may_not_read_another_affiliate(
    client: httpx.AsyncClient, catalog: dict[str, Any], alice_key: dict[str, str]
) -> None:
    response = await client.get(f"/api/v1/affiliates/{catalog['bob']['id']}", headers=alice_key)

    error = assert_error(response, 403, "forbidden")
    assert "Bob" not in error["message"]


async def test_affiliate_key_lists_only_its_own_links(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    catalog: dict[str, Any],
    alice_key: dict[str, str],
) -> None:
    second = await create(
        client,
        "links",
        {"affiliate_id": catalog["alice"]["id"], "offer_id": catalog["offer"]["id"]},
        admin,
    )

    response = await client.get("/api/v1/links", headers=alice_key)

    assert response.status_code == 200
    assert response.json()["items"] == [catalog["alice_link"], second]
    own = await client.get(
        "/api/v1/links", params={"affiliate_id": catalog["alice"]["id"]}, headers=alice_key
    )
    assert own.json()["items"] == [catalog["alice_link"], second]
    by_offer = await client.get(
        "/api/v1/links", params={"offer_id": catalog["offer"]["id"]}, headers=alice_key
    )
    assert by_offer.json()["items"] == [catalog["alice_link"], second]


async def test_affiliate_key_may_not_filter_for_another_affiliates_links(
    client: httpx.AsyncClient, catalog: dict[str, Any], alice_key: dict[str, str]
) -> None:
    response = await client.get(
        "/api/v1/links", params={"affiliate_id": catalog["bob"]["id"]}, headers=alice_key
    )

    assert_error(response, 403, "forbidden")


async def test_affiliate_key_reads_its_own_link(
    client: httpx.AsyncClient, catalog: dict[str, Any], alice_key: dict[str, str]
) -> None:
    link = catalog["alice_link"]

    response = await client.get(f"/api/v1/links/{link['id']}", headers=alice_key)

    assert response.status_code == 200
    assert response.json() == link


async def test_affiliate_key_may_not_read_another_affiliates_link(
    client: httpx.AsyncClient, catalog: dict[str, Any], alice_key: dict[str, str]
) -> None:
    link = catalog["bob_link"]

    response = await client.get(f"/api/v1/links/{link['id']}", headers=alice_key)

    error = assert_error(response, 403, "forbidden")
    assert link["code"] not in error["message"]


@pytest.mark.parametrize("path", ADMIN_ONLY_READS)
async def test_affiliate_key_may_not_read_admin_resources(
    client: httpx.AsyncClient, catalog: dict[str, Any], alice_key: dict[str, str], path: str
) -> None:
    response = await client.get(path, headers=alice_key)

    assert_error(response, 403, "forbidden")


def ids(c: dict[str, Any]) -> dict[str, int]:
    return {
        "advertiser": c["advertiser"]["id"],
        "offer": c["offer"]["id"],
        "alice": c["alice"]["id"],
        "link": c["alice_link"]["id"],
    }


# Every catalog and key write, aimed at the affiliate's own data where it has any.
WRITES: list[tuple[str, str, Callable[[dict[str, int]], dict[str, Any]] | None]] = [
    ("POST", "/api/v1/advertisers", lambda i: {"name": "Mine"}),
    ("PATCH", "/api/v1/advertisers/{advertiser}", lambda i: {"name": "Mine"}),
    ("DELETE", "/api/v1/advertisers/{advertiser}", None),
    ("POST", "/api/v1/advertisers/{advertiser}/rotate-token", None),
    (
        "POST",
        "/api/v1/offers",
        lambda i: {"advertiser_id": i["advertiser"], "name": "X", "url": "https://x.example/"},
    ),
    ("PATCH", "/api/v1/offers/{offer}", lambda i: {"payout": {"type": "fixed", "value": "99"}}),
    ("DELETE", "/api/v1/offers/{offer}", None),
    ("POST", "/api/v1/affiliates", lambda i: {"name": "Mallory"}),
    ("PATCH", "/api/v1/affiliates/{alice}", lambda i: {"name": "Mallory"}),
    ("DELETE", "/api/v1/affiliates/{alice}", None),
    ("POST", "/api/v1/links", lambda i: {"affiliate_id": i["alice"], "offer_id": i["offer"]}),
    ("PATCH", "/api/v1/links/{link}", lambda i: {"status": "archived"}),
    ("DELETE", "/api/v1/links/{link}", None),
    ("POST", "/api/v1/keys", lambda i: {"role": "admin"}),
    ("POST", "/api/v1/keys", lambda i: {"role": "affiliate", "affiliate_id": i["alice"]}),
    ("DELETE", "/api/v1/keys/1", None),
]


async def snapshot(pool: asyncpg.Pool) -> dict[str, list[Any]]:
    tables = ("advertisers", "offers", "offer_goals", "affiliates", "links", "api_keys")
    # The refused key's use is recorded (last_used_at); nothing else may change.
    return {
        t: [
            {k: v for k, v in r.items() if k != "last_used_at"}
            for r in await pool.fetch(f"SELECT * FROM {t} ORDER BY 1, 2")
        ]
        for t in tables
    }


@pytest.mark.parametrize(("method", "path", "body"), WRITES, ids=[f"{m} {p}" for m, p, _ in WRITES])
async def test_affiliate_key_may_not_write(
    client: httpx.AsyncClient,
    catalog: dict[str, Any],
    alice_key: dict[str, str],
    pool: asyncpg.Pool,
    method: str,
    path: str,
    body: Callable[[dict[str, int]], dict[str, Any]] | None,
) -> None:
    before = await snapshot(pool)
    refs = ids(catalog)

    response = await client.request(
        method,
        path.format(**refs),
        json=body(refs) if body else None,
        headers=alice_key,
    )

    assert_error(response, 403, "forbidden")
    assert await snapshot(pool) == before
