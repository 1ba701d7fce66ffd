"""/api/v1/deliveries: list, detail, retry; admin sees all, an affiliate its own."""

from __future__ import annotations

import asyncpg
import httpx

from tests.helpers import affiliate_headers, assert_error
from tests.sender.conftest import Rows

API = "/api/v1/deliveries"


async def two_affiliates(rows: Rows, pool: asyncpg.Pool) -> tuple[int, int, list[int]]:
    """Alice with three deliveries (one failed), Bob with one; the delivery IDs in order."""
    offer = await rows.offer()
    ids = []
    alice = await rows.affiliate("https://alice.example/pb")
    bob = await rows.affiliate("https://bob.example/pb")
    for affiliate in (alice, alice, bob, alice):
        conversion = await rows.conversion(affiliate["id"], offer)
        ids.append(
            await pool.fetchval(
                """INSERT INTO deliveries (conversion_id, affiliate_id, conversion_status,
                       method, url) VALUES ($1, $2, 'approved', 'GET', $3) RETURNING id""",
                conversion["id"],
                affiliate["id"],
                affiliate["postback_url"],
            )
        )
    await pool.execute(
        "UPDATE deliveries SET status = 'failed', attempts = 3, last_error = 'HTTP 500' "
        "WHERE id = $1",
        ids[1],
    )
    return alice["id"], bob["id"], ids


async def test_admin_lists_filters_and_pages(
    client: httpx.AsyncClient, admin: dict[str, str], rows: Rows, pool: asyncpg.Pool
) -> None:
    alice, bob, ids = await two_affiliates(rows, pool)

    everything = (await client.get(API, headers=admin)).json()
    assert [d["id"] for d in everything["items"]] == ids
    assert everything["next_cursor"] is None

    first = (await client.get(API, params={"limit": 2}, headers=admin)).json()
    assert [d["id"] for d in first["items"]] == ids[:2]
    rest = (
        await client.get(API, params={"limit": 2, "cursor": first["next_cursor"]}, headers=admin)
    ).json()
    assert [d["id"] for d in rest["items"]] == ids[2:]

    of_bob = (await client.get(API, params={"affiliate_id": bob}, headers=admin)).json()
    assert [d["id"] for d in of_bob["items"]] == [ids[2]]
    failed = (
        await client.get(API, params={"affiliate_id": alice, "status": "failed"}, headers=admin)
    ).json()
    assert [(d["id"], d["status"], d["last_error"]) for d in failed["items"]] == [
        (ids[1], "failed", "HTTP 500")
    ]
    assert "signing_secret" not in failed["items"][0]
    postback = failed["items"][0]
    assert (postback["kind"], postback["webhook_id"], postback["event_id"]) == (
        "postback",
        None,
        None,
    )
    postbacks = (await client.get(API, params={"kind": "postback"}, headers=admin)).json()
    assert [d["id"] for d in postbacks["items"]] == ids
    assert (await client.get(API, params={"kind": "webhook"}, headers=admin)).json()["items"] == []


async def test_affiliate_sees_only_its_own(
    client: httpx.AsyncClient, admin: dict[str, str], rows: Rows, pool: asyncpg.Pool
) -> None:
    alice, bob, ids = await two_affiliates(rows, pool)
    headers = await affiliate_headers(client, admin, alice)

    mine = (await client.get(API, headers=headers)).json()
    assert [d["id"] for d in mine["items"]] == [ids[0], ids[1], ids[3]]
    assert_error(await client.get(API, params={"affiliate_id": bob}, headers=headers), 403)
    assert_error(await client.get(f"{API}/{ids[2]}", headers=headers), 404)
    own = await client.get(f"{API}/{ids[0]}", headers=headers)
    assert own.status_code == 200
    assert own.json()["attempts_log"] == []
    assert_error(await client.post(f"{API}/{ids[1]}/retry", headers=headers), 403)


async def test_detail_lists_every_try(
    client: httpx.AsyncClient, admin: dict[str, str], rows: Rows, pool: asyncpg.Pool
) -> None:
    _, _, ids = await two_affiliates(rows, pool)
    await pool.execute(
        """INSERT INTO delivery_attempts (delivery_id, status_code, error, latency_ms,
               response_snippet)
           VALUES ($1, 500, 'HTTP 500', 12, 'oops'), ($1, NULL, 'ConnectError: refused', 3, NULL)
        """,
        ids[1],
    )

    detail = (await client.get(f"{API}/{ids[1]}", headers=admin)).json()

    assert [
        (a["status_code"], a["error"], a["response_snippet"]) for a in detail["attempts_log"]
    ] == [
        (500, "HTTP 500", "oops"),
        (None, "ConnectError: refused", None),
    ]


async def test_retry_makes_a_failed_delivery_due_now(
    client: httpx.AsyncClient, admin: dict[str, str], rows: Rows, pool: asyncpg.Pool
) -> None:
    _, _, ids = await two_affiliates(rows, pool)
    await pool.execute("UPDATE deliveries SET next_attempt_at = now() + interval '1 day'")

    response = await client.post(f"{API}/{ids[1]}/retry", headers=admin)

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "pending"
    due = await pool.fetchval(
        "SELECT next_attempt_at <= now() FROM deliveries WHERE id = $1", ids[1]
    )
    assert due is True


async def test_retry_refuses_delivered_and_unknown(
    client: httpx.AsyncClient, admin: dict[str, str], rows: Rows, pool: asyncpg.Pool
) -> None:
    _, _, ids = await two_affiliates(rows, pool)
    await pool.execute("UPDATE deliveries SET status = 'delivered' WHERE id = $1", ids[0])

    assert_error(await client.post(f"{API}/{ids[0]}/retry", headers=admin), 409, "conflict")
    assert_error(await client.post(f"{API}/999999/retry", headers=admin), 404, "not_found")
    assert_error(await client.get(API, params={"status": "lost"}, headers=admin), 400)
    assert_error(await client.get(API), 401)
