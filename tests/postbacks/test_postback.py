"""GET|POST /postback: accepted only when durably queued; bad input is a 4xx and nothing."""

from __future__ import annotations

import functools
import time
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from app import signing
from app.clickid import new_click_id, parse_click_id
from app.db import Pool
from app.settings import Settings
from app.streams import keys
from tests.helpers import assert_error, create, stream_entries
from tests.support.conversions import (
    click,
    conversions,
    postback,
    rollup_totals,
    run_worker,
    stream_length,
)


async def test_a_postback_is_accepted_and_attributed_to_its_click(
    app: FastAPI,
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    settings: Settings,
    pool: Pool,
) -> None:
    click_id = await click(app, client, shop["alice_link"]["code"], sub1="kw", source="fb")
    await run_worker(settings)
    response = await postback(client, shop["token"], click_id=click_id, txid="A-1")
    assert response.status_code == 200
    assert response.json() == {"status": "accepted"}
    await run_worker(settings)
    [row] = await conversions(pool)
    assert row["click_id"] == parse_click_id(click_id)
    assert (row["affiliate_id"], row["offer_id"], row["link_id"]) == (
        shop["alice"]["id"],
        shop["offer"]["id"],
        shop["alice_link"]["id"],
    )
    assert (row["sub1"], row["source"], row["goal"]) == ("kw", "fb", "conversion")
    assert (row["status"], row["reason"], row["via"]) == ("approved", None, "postback")
    assert (row["revenue"], row["payout"], row["currency"]) == (
        Decimal("4.00"),
        Decimal("2.50"),
        "USD",
    )
    totals = await rollup_totals(pool)
    assert totals == {
        "clicks": 1,
        "conversions": 1,
        "pending": 0,
        "rejected": 0,
        "revenue": Decimal("4.00"),
        "payout": Decimal("2.50"),
    }
    # The conversion lands in the click's own rollup row (same dimensions).
    assert await pool.fetchval("SELECT count(*) FROM stats_rollup") == 1
    history = await pool.fetch("SELECT old_status, new_status FROM conversion_history")
    assert [(h["old_status"], h["new_status"]) for h in history] == [(None, "approved")]


@pytest.mark.parametrize("kind", ["form", "json", "query+json"])
async def test_post_bodies_and_aliases(
    app: FastAPI,
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    settings: Settings,
    pool: Pool,
    kind: str,
) -> None:
    click_id = await click(app, client, shop["bob_link"]["code"])
    await run_worker(settings)
    fields = {"transaction_id": click_id, "order_id": "O-9", "status": "pending"}
    if kind == "form":
        response = await client.post("/postback", data={"token": shop["token"], **fields})
    elif kind == "json":
        response = await client.post("/postback", json={"token": shop["token"], **fields})
    else:
        response = await client.post(
            "/postback", params={"token": shop["token"]}, json={**fields, "amount": 12.5}
        )
    assert response.status_code == 200, response.text
    await run_worker(settings)
    [row] = await conversions(pool)
    assert (row["txid"], row["status"], row["affiliate_id"]) == (
        "O-9",
        "pending",
        shop["bob"]["id"],
    )
    assert (await rollup_totals(pool))["pending"] == 1


BAD_INPUT = [
    ({"txid": "t"}, 400, "missing_parameter"),
    ({"click_id": "not-a-click"}, 400, "invalid_parameter"),
    ({"amount": "abc"}, 400, "invalid_parameter"),
    ({"amount": "-5"}, 400, "invalid_parameter"),
    ({"amount": "1e309"}, 400, "invalid_parameter"),
    ({"amount": "NaN"}, 400, "invalid_parameter"),
    ({"amount": "1.23456"}, 400, "invalid_parameter"),
    ({"payout": "Infinity"}, 400, "invalid_parameter"),
    ({"amount": "\u0665"}, 400, "invalid_parameter"),
    ({"amount": "1_000"}, 400, "invalid_parameter"),
    ({"payout": "1_000"}, 400, "invalid_parameter"),
    ({"amount": "1e3"}, 400, "invalid_parameter"),
    ({"offer_id": "9999999999999999999"}, 400, "invalid_parameter"),
    ({"status": "paid"}, 400, "invalid_parameter"),
    ({"currency": "dollars"}, 400, "invalid_parameter"),
    ({"event": "a b"}, 400, "invalid_parameter"),
    ({"txid": "x" * 256}, 400, "invalid_parameter"),
    ({"token": "wrong-token"}, 401, "invalid_token"),
    ({"token": ""}, 401, "invalid_token"),
]


@pytest.mark.parametrize(("changes", "status", "code"), BAD_INPUT)
async def test_bad_query_input_is_refused_and_nothing_stored(
    app: FastAPI,
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    settings: Settings,
    pool: Pool,
    redis: Redis,
    changes: dict[str, str],
    status: int,
    code: str,
) -> None:
    params = {"token": shop["token"], "click_id": new_click_id()[0], "txid": "T-1", **changes}
    if "txid" in changes and changes["txid"] == "t":
        del params["click_id"]
    response = await client.get("/postback", params=params)
    assert_error(response, status, code)
    assert await stream_length(redis, settings) == 0
    await run_worker(settings)
    assert await conversions(pool) == []


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b'{"amount": 1e309}', "application/json", 400, "invalid_json"),
        (b'{"amount": true}', "application/json", 400, "invalid_parameter"),
        (b'{"amount": [1]}', "application/json", 400, "invalid_parameter"),
        (b"[1, 2]", "application/json", 400, "invalid_json"),
        (b"{not json", "application/json", 400, "invalid_json"),
        (b"<xml/>", "application/xml", 415, "unsupported_media_type"),
        (b"click_id=x", "text/plain", 415, "unsupported_media_type"),
        (b"a" * (2 * 1024 * 1024), "application/x-www-form-urlencoded", 413, "too_large"),
    ],
)
async def test_bad_bodies_are_refused_and_nothing_stored(
    app: FastAPI,
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    settings: Settings,
    redis: Redis,
    content: bytes,
    content_type: str,
    status: int,
    code: str,
) -> None:
    response = await client.post(
        "/postback",
        params={"token": shop["token"], "click_id": new_click_id()[0]},
        content=content,
        headers={"Content-Type": content_type},
    )
    assert_error(response, status, code)
    assert await stream_length(redis, settings) == 0


async def test_a_chunked_body_past_the_limit_is_cut_off(
    app: FastAPI, client: httpx.AsyncClient, shop: dict[str, Any], settings: Settings, redis: Redis
) -> None:
    async def chunks() -> Any:
        for _ in range(64):
            yield b"x" * 65_536

    response = await client.post(
        "/postback",
        params={"token": shop["token"]},
        content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_error(response, 413, "too_large")
    assert await stream_length(redis, settings) == 0


async def test_a_well_formed_postback_for_an_unknown_click_is_accepted(
    app: FastAPI, client: httpx.AsyncClient, shop: dict[str, Any], settings: Settings, redis: Redis
) -> None:
    response = await postback(client, shop["token"], click_id=new_click_id()[0], txid="U-1")
    assert response.status_code == 200
    assert await stream_length(redis, settings) == 1


async def _signed_advertiser(
    client: httpx.AsyncClient, admin: dict[str, str], pool: Pool, redis: Redis, **extra: Any
) -> dict[str, Any]:
    advertiser = await create(client, "advertisers", {"name": "Signed", **extra}, admin)
    # The catalog API does not manage signing secrets yet; set it as an operator would.
    await pool.execute(
        "UPDATE advertisers SET signing_secret = 'sekret' WHERE id = $1", advertiser["id"]
    )
    from app.catalog import service as catalog_service

    await catalog_service.notify_changed(redis)
    return advertiser


async def test_signed_postbacks(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    redis: Redis,
    settings: Settings,
) -> None:
    advertiser = await _signed_advertiser(client, admin, pool, redis)
    await app.state.intake.cache.load()
    body = orjson.dumps(
        {"token": advertiser["postback_token"], "click_id": new_click_id()[0], "txid": "S-1"}
    )
    now = int(time.time())

    async def send(signature: str | None) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-Signature"] = signature
        return await client.post("/postback", content=body, headers=headers)

    assert_error(await send(None), 401, "invalid_signature")
    assert_error(await send("garbage"), 400, "bad_signature")
    assert_error(await send("t=abc,v1=00"), 400, "bad_signature")
    assert_error(await send(signing.sign("other", now, body)), 401, "invalid_signature")
    stale = signing.sign("sekret", now - 301, body)
    assert_error(await send(stale), 401, "invalid_signature")
    assert await stream_length(redis, settings) == 0
    response = await send(signing.sign("sekret", now, body))
    assert response.status_code == 200, response.text
    assert await stream_length(redis, settings) == 1


async def test_a_signed_body_cannot_be_amended_from_the_query_string(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    redis: Redis,
    settings: Settings,
) -> None:
    advertiser = await _signed_advertiser(client, admin, pool, redis)
    await app.state.intake.cache.load()
    click_id = new_click_id()[0]
    # Status left to its default, the click under an alias: what a forger would add to.
    body = orjson.dumps({"clickid": click_id, "txid": "S-2"})
    signature = signing.sign("sekret", int(time.time()), body)
    # A replay of the signed body, with a reversal and another click added in the URL.
    response = await client.post(
        "/postback",
        params={
            "token": advertiser["postback_token"],
            "status": "rejected",
            "click_id": new_click_id()[0],
        },
        content=body,
        headers={"Content-Type": "application/json", "X-Signature": signature},
    )
    assert response.status_code == 200, response.text
    [record] = [
        orjson.loads(fields[b"r"])
        for key in keys.shard_keys(keys.CONVERSIONS, settings.stream_shards)
        for _, fields in await stream_entries(redis, key)
    ]
    assert (record["st"], record["cid"]) == ("approved", str(parse_click_id(click_id)))


async def test_the_ip_allowlist(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    settings: Settings,
    redis: Redis,
) -> None:
    elsewhere = await create(
        client, "advertisers", {"name": "Far", "ip_allowlist": ["203.0.113.0/24"]}, admin
    )
    here = await create(
        client, "advertisers", {"name": "Near", "ip_allowlist": ["127.0.0.0/8"]}, admin
    )
    await app.state.intake.cache.load()
    # httpx's ASGI transport reports the client as 127.0.0.1.
    refused = await postback(client, elsewhere["postback_token"], click_id=new_click_id()[0])
    assert_error(refused, 403, "address_not_allowed")
    accepted = await postback(client, here["postback_token"], click_id=new_click_id()[0])
    assert accepted.status_code == 200


async def test_a_rotated_token_stops_working(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    shop: dict[str, Any],
) -> None:
    old = shop["token"]
    assert (await postback(client, old, click_id=new_click_id()[0])).status_code == 200
    rotated = await client.post(
        f"/api/v1/advertisers/{shop['advertiser']['id']}/rotate-token", headers=admin
    )
    assert rotated.status_code == 200
    await app.state.intake.cache.refresh_if_changed()
    assert_error(await postback(client, old, click_id=new_click_id()[0]), 401, "invalid_token")
    new = rotated.json()["postback_token"]
    assert (await postback(client, new, click_id=new_click_id()[0])).status_code == 200


async def test_redis_down_spools_postbacks_and_replays_them(
    app: FastAPI,
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    settings: Settings,
    pool: Pool,
) -> None:
    click_id = await click(app, client, shop["alice_link"]["code"])
    await run_worker(settings)
    queue = app.state.intake.queue
    async with queue.redis_unreachable():
        responses = [
            await postback(client, shop["token"], click_id=click_id, txid=f"R-{i}")
            for i in range(5)
        ]
    assert [r.status_code for r in responses] == [200] * 5
    assert queue.spool.has_files()
    assert await queue.replay() == 5
    await run_worker(settings)
    assert sorted(r["txid"] for r in await conversions(pool)) == [f"R-{i}" for i in range(5)]


async def test_the_documented_fastapi_routes_behave_the_same(
    app: FastAPI, shop: dict[str, Any], settings: Settings, redis: Redis
) -> None:
    """TrackerApp answers intake before routing; the FastAPI routes (for OpenAPI and any
    app without the fast path) must give the same answers."""
    routed = functools.partial(FastAPI.__call__, app)
    transport = httpx.ASGITransport(app=routed)
    async with httpx.AsyncClient(transport=transport, base_url="http://tracker.test") as direct:
        ok = await direct.post(
            "/postback", json={"token": shop["token"], "click_id": new_click_id()[0]}
        )
        assert (ok.status_code, ok.json()) == (200, {"status": "accepted"})
        assert_error(await postback(direct, "nope", click_id=new_click_id()[0]), 401)
        assert_error(
            await direct.post(
                "/postback",
                params={"token": shop["token"]},
                content=b"x" * 70_000,
                headers={"Content-Type": "application/json"},
            ),
            413,
            "too_large",
        )
        pixel = await direct.get("/pixel.gif", params={"click_id": new_click_id()[0]})
        assert pixel.headers["content-type"] == "image/gif"
    assert await stream_length(redis, settings) == 2
    schema = (
        await httpx.AsyncClient(transport=transport, base_url="http://t").get("/openapi.json")
    ).json()
    assert {"/postback", "/pixel.gif", "/pixel.js", "/api/v1/conversions"} <= set(schema["paths"])
