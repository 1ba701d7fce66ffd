from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from tests.helpers import assert_error, create

API = "/api/v1/keys"


def bearer(plain: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {plain}"}


async def count(pool: asyncpg.Pool) -> int:
    value: int = await pool.fetchval("SELECT count(*) FROM api_keys")
    return value


@pytest.fixture
async def affiliate(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, Any]:
    return await create(client, "affiliates", {"name": "Alice"}, admin)


async def test_create_admin_key_shows_the_plain_key_once(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    key = await create(client, "keys", {"role": "admin", "name": "ci"}, admin)

    assert key["role"] == "admin"
    assert key["affiliate_id"] is None
    assert key["name"] == "ci"
    assert key["revoked_at"] is None
    plain = key["key"]
    assert len(plain) >= 32
    assert plain.startswith(key["prefix"])
    assert len(key["prefix"]) < len(plain) - 20

    listed = await client.get(API, headers=admin)
    assert listed.status_code == 200
    [item] = listed.json()["items"]
    assert "key" not in item
    assert item == {k: v for k, v in key.items() if k != "key"}
    assert plain not in listed.text


async def test_created_admin_key_works_as_an_admin(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    key = await create(client, "keys", {"role": "admin"}, admin)

    created = await client.post(
        "/api/v1/advertisers", json={"name": "Acme"}, headers=bearer(key["key"])
    )

    assert created.status_code == 201
    assert (await client.get(API, headers=bearer(key["key"]))).status_code == 200


async def test_every_key_is_different(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    keys = {(await create(client, "keys", {"role": "admin"}, admin))["key"] for _ in range(5)}

    assert len(keys) == 5


async def test_the_database_holds_only_a_hash(
    client: httpx.AsyncClient, admin: dict[str, str], affiliate: dict[str, Any], pool: asyncpg.Pool
) -> None:
    key = await create(
        client, "keys", {"role": "affiliate", "affiliate_id": affiliate["id"]}, admin
    )
    plain = key["key"]

    row = await pool.fetchrow("SELECT * FROM api_keys WHERE id = $1", key["id"])

    assert row is not None
    assert row["key_hash"] != plain.encode()
    assert plain.encode() not in row["key_hash"]
    for column, value in row.items():
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        assert plain not in text, column
    # Nor anywhere else in the table, as text.
    dump = await pool.fetchval("SELECT string_agg(t::text, '|') FROM api_keys t")
    assert plain not in dump


async def test_create_affiliate_key(
    client: httpx.AsyncClient, admin: dict[str, str], affiliate: dict[str, Any]
) -> None:
    key = await create(
        client, "keys", {"role": "affiliate", "affiliate_id": affiliate["id"]}, admin
    )

    assert key["role"] == "affiliate"
    assert key["affiliate_id"] == affiliate["id"]
    own = await client.get(f"/api/v1/affiliates/{affiliate['id']}", headers=bearer(key["key"]))
    assert own.status_code == 200


async def test_revoke_stops_the_key_at_once(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    key = await create(client, "keys", {"role": "admin"}, admin)
    assert (await client.get(API, headers=bearer(key["key"]))).status_code == 200

    response = await client.delete(f"{API}/{key['id']}", headers=admin)

    assert response.status_code == 200
    revoked = response.json()
    assert revoked["id"] == key["id"]
    assert revoked["revoked_at"] is not None
    assert "key" not in revoked
    assert_error(await client.get(API, headers=bearer(key["key"])), 401, "unauthorized")
    [listed] = (await client.get(API, headers=admin)).json()["items"]
    assert listed["revoked_at"] == revoked["revoked_at"]


async def test_revoking_twice_keeps_the_first_time(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    key = await create(client, "keys", {"role": "admin"}, admin)
    first = (await client.delete(f"{API}/{key['id']}", headers=admin)).json()

    second = await client.delete(f"{API}/{key['id']}", headers=admin)

    assert second.status_code == 200
    assert second.json()["revoked_at"] == first["revoked_at"]


async def test_revoking_one_key_leaves_the_others(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    revoked = await create(client, "keys", {"role": "admin"}, admin)
    kept = await create(client, "keys", {"role": "admin"}, admin)

    await client.delete(f"{API}/{revoked['id']}", headers=admin)

    assert (await client.get(API, headers=bearer(kept["key"]))).status_code == 200


async def test_list_pages(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    ids = [(await create(client, "keys", {"role": "admin"}, admin))["id"] for _ in range(3)]

    first = (await client.get(API, params={"limit": 2}, headers=admin)).json()
    second = (
        await client.get(API, params={"limit": 2, "cursor": first["next_cursor"]}, headers=admin)
    ).json()

    assert [k["id"] for k in first["items"]] == ids[:2]
    assert [k["id"] for k in second["items"]] == ids[2:]
    assert second["next_cursor"] is None


@pytest.mark.parametrize("bad_id", ["999", "0", "x"])
async def test_revoke_unknown_or_malformed_id(
    client: httpx.AsyncClient, admin: dict[str, str], bad_id: str
) -> None:
    key = await create(client, "keys", {"role": "admin"}, admin)

    response = await client.delete(f"{API}/{bad_id}", headers=admin)

    assert_error(response, 404 if bad_id == "999" else 400)
    assert (await client.get(API, headers=bearer(key["key"]))).status_code == 200


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param({}, "invalid_request", id="no-role"),
        pytest.param({"role": "root"}, "invalid_request", id="unknown-role"),
        pytest.param({"role": None}, "invalid_request", id="role-null"),
        pytest.param({"role": "affiliate"}, "invalid_request", id="affiliate-without-id"),
        pytest.param({"role": "admin", "affiliate_id": 1}, "invalid_request", id="admin-with-id"),
        pytest.param({"role": "affiliate", "affiliate_id": 0}, "invalid_request", id="affiliate-0"),
        pytest.param(
            {"role": "affiliate", "affiliate_id": "one"}, "invalid_request", id="affiliate-text"
        ),
        pytest.param(
            {"role": "affiliate", "affiliate_id": True}, "invalid_request", id="affiliate-bool"
        ),
        pytest.param({"role": "admin", "name": "n" * 201}, "invalid_request", id="name-too-long"),
        pytest.param({"role": "admin", "key": "trk_mine"}, "invalid_request", id="chosen-key"),
        pytest.param({"role": "admin", "scopes": ["all"]}, "invalid_request", id="unknown-field"),
    ],
)
async def test_create_rejects_bad_input(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    affiliate: dict[str, Any],
    pool: asyncpg.Pool,
    body: dict[str, Any],
    code: str,
) -> None:
    response = await client.post(API, json=body, headers=admin)

    assert_error(response, 400, code)
    assert await count(pool) == 0


async def test_an_unknown_affiliate_is_a_conflict_with_what_is_stored(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    # Well-formed, but naming an affiliate that does not exist (yet): the same request
    # succeeds once it does, so it is a 409, not bad input.
    response = await client.post(
        API, json={"role": "affiliate", "affiliate_id": 999}, headers=admin
    )

    assert_error(response, 409, "invalid_reference")
    assert await count(pool) == 0


async def test_create_rejects_malformed_json(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    response = await client.post(
        API, content=b'{"role": admin}', headers={**admin, "Content-Type": "application/json"}
    )

    assert_error(response, 400, "invalid_json")
    assert await count(pool) == 0


async def test_a_key_records_its_last_use_at_most_once_a_minute(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    key = await create(client, "keys", {"role": "admin", "name": "ci"}, admin)
    assert key["last_used_at"] is None
    unused = await create(client, "keys", {"role": "admin", "name": "idle"}, admin)

    assert (await client.get("/api/v1/offers", headers=bearer(key["key"]))).status_code == 200
    first = await pool.fetchval("SELECT last_used_at FROM api_keys WHERE id = $1", key["id"])
    assert first is not None
    # Within the minute: no second write (the stored value stays).
    assert (await client.get("/api/v1/offers", headers=bearer(key["key"]))).status_code == 200
    assert (
        await pool.fetchval("SELECT last_used_at FROM api_keys WHERE id = $1", key["id"]) == first
    )
    # Older than a minute: the next use writes it again.
    await pool.execute(
        "UPDATE api_keys SET last_used_at = now() - interval '61 seconds' WHERE id = $1",
        key["id"],
    )
    stale = await pool.fetchval("SELECT last_used_at FROM api_keys WHERE id = $1", key["id"])
    assert (await client.get("/api/v1/offers", headers=bearer(key["key"]))).status_code == 200
    renewed = await pool.fetchval("SELECT last_used_at FROM api_keys WHERE id = $1", key["id"])
    assert renewed > stale

    listed = {k["id"]: k for k in (await client.get(API, headers=admin)).json()["items"]}
    assert listed[key["id"]]["last_used_at"] is not None
    assert listed[unused["id"]]["last_used_at"] is None


async def test_a_refused_key_records_no_use(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    key = await create(client, "keys", {"role": "admin"}, admin)
    await client.delete(f"{API}/{key['id']}", headers=admin)

    assert (await client.get("/api/v1/offers", headers=bearer(key["key"]))).status_code == 401
    assert await pool.fetchval("SELECT last_used_at FROM api_keys WHERE id = $1", key["id"]) is None
