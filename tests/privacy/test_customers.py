"""Erasure of a customer end to end: its external ID and its clicks' personal data are
nowhere (tables, streams with pending entries, retry sets, spool, dead letters), and no
number moves; conversions that waited meanwhile still count for it."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from app.attribution.consumer import Attributor
from app.clickid import new_click_id
from app.db import Pool
from app.settings import Settings
from app.streams import keys
from app.streams.outcome import SETTLE, BatchOutcome, settle_args
from tests.helpers import affiliate_headers, assert_error, reload_links
from tests.privacy.test_service import (
    IP,
    agent,
    assert_nowhere,
    balance,
    language,
    referer,
    reports,
    visit,
)
from tests.support import dump
from tests.support.conversions import make_retries_due, postback, retry_count, run_worker

# Long enough to be found only where it is, and unlike anything else stored.
EXTERNAL = "buyer-4711-erase-me@example.com"
OTHER = "buyer-0815-kept@example.com"
NEEDLES = [EXTERNAL, IP] + [f(tag) for tag in ("Cust",) for f in (agent, referer, language)]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The test client is 127.0.0.1: it may say which visitor it stands for.
    return settings.model_copy(update={"trusted_proxies": ["127.0.0.1/32"]})


async def customer(client: httpx.AsyncClient, admin: dict[str, str], customer_id: int) -> Any:
    response = await client.get(f"/api/v1/customers/{customer_id}", headers=admin)
    assert response.status_code == 200, response.text
    return response.json()


async def customer_of(pool: Pool, external_id: str) -> int:
    found = await pool.fetchval("SELECT id FROM customers WHERE external_id = $1", external_id)
    assert found is not None
    return int(found)


async def test_erasing_a_customer_leaves_nothing_and_changes_no_number(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    catalog: dict[str, Any],
    settings: Settings,
    pool: Pool,
    redis: Redis,
) -> None:
    await reload_links(app)
    token = catalog["advertiser"]["postback_token"]
    first = await visit(client, catalog["alice_link"]["code"], IP, "Cust")
    kept_click = await visit(client, catalog["bob_link"]["code"], "203.0.113.9", "Kept")
    await run_worker(settings)
    for params in (
        {"click_id": first, "txid": "o-1", "amount": "10", "customer_id": EXTERNAL},
        {"txid": "o-2", "amount": "5", "customer_id": EXTERNAL},  # by the customer alone
        {"click_id": kept_click, "txid": "k-1", "amount": "7", "customer_id": OTHER},
    ):
        response = await postback(client, token, **params)
        assert response.status_code == 200, response.text
    await run_worker(settings)
    erased_id, kept_id = await customer_of(pool, EXTERNAL), await customer_of(pool, OTHER)

    # Waiting when the erasure comes: a retry (its click is not stored: deferred), a
    # poison record dead-lettered, one in the stream, one in the web process's spool.
    unknown_click = new_click_id()[0]
    await postback(client, token, click_id=unknown_click, txid="o-5", customer_id=EXTERNAL)
    shard = keys.shard_keys(keys.CONVERSIONS, settings.stream_shards)[0]
    poison = {"v": "postback", "adv": catalog["advertiser"]["id"], "st": "?", "cu": EXTERNAL}
    await redis.xadd(shard, {"r": orjson.dumps(poison)})
    await redis.hincrby(keys.metrics_key(shard), "enqueued", 1)
    await run_worker(settings)
    assert await retry_count(redis, settings) == 1
    assert await redis.xlen(keys.dead_letter_key(shard)) == 1
    await postback(client, token, txid="o-3", amount="2", customer_id=EXTERNAL)
    async with app.intake.queue.redis_unreachable():  # type: ignore[attr-defined]
        await postback(client, token, txid="o-4", amount="3", customer_id=EXTERNAL)
        assert list((settings.tracker_data_dir / "spool").glob("conversions-*.spool*"))

        before = await reports(client, admin)
        totals = await customer(client, admin, erased_id)
        kept = await customer(client, admin, kept_id)
        assert totals["external_id"] == EXTERNAL
        assert totals["conversions"] == 2
        assert await balance(redis, settings) == (0, 0)
        everything = await dump.everything(pool, redis, settings.tracker_data_dir)
        assert [n for n in NEEDLES if n.encode() not in everything] == []  # it can fail

        affiliate = await affiliate_headers(client, admin, catalog["alice"]["id"])
        url = f"/api/v1/customers/{erased_id}"
        assert_error(await client.delete(url, headers=affiliate), 403)
        response = await client.delete(url, headers=admin)
        assert response.status_code == 200, response.text
        erasure = response.json()
        assert erasure["counts"] == {
            # Its first click's row and its entry, acked but not yet trimmed.
            "customer_clicks": 2,
            "conversions_spool": 1,
            # o-3 waiting, the retry, and the entries of o-1, o-2, o-5 and the poison
            # record, settled but not yet trimmed.
            "conversions_waiting": 6,
            "conversions_dead_letters": 1,
            "customers": 1,
        }
        assert (erasure["kind"], erasure["subject"]) == ("customer_id", str(erased_id))
        # The dead letter still counts for the customer if it is replayed, by its ID.
        dead: Any = await redis.xrange(keys.dead_letter_key(shard))
        assert orjson.loads(dead[0][1][b"record"]) == {
            **{k: v for k, v in poison.items() if k != "cu"},
            "cux": erased_id,
        }

        assert_nowhere(await dump.everything(pool, redis, settings.tracker_data_dir), NEEDLES)
        everything = await dump.everything(pool, redis, settings.tracker_data_dir)
        assert OTHER.encode() in everything
        assert agent("Kept").encode() in everything
        assert await reports(client, admin) == before
        after = await customer(client, admin, erased_id)
        assert after["external_id"] is None
        assert after["erased_at"] is not None
        assert {k: after[k] for k in ("conversions", "revenue", "payout", "affiliate_id")} == {
            k: totals[k] for k in ("conversions", "revenue", "payout", "affiliate_id")
        }
        assert await customer(client, admin, kept_id) == kept
        assert await balance(redis, settings) == (0, 0)
        again = await client.delete(url, headers=admin)
        assert_error(again, 409, "already_erased")

    # What waited is stored later, still for the erased customer, and names it nowhere.
    assert await app.intake.queue.replay() == 1  # type: ignore[attr-defined]
    await make_retries_due(pool, redis, settings)
    await run_worker(settings)
    assert await balance(redis, settings) == (0, 0)
    assert_nowhere(await dump.everything(pool, redis, settings.tracker_data_dir), NEEDLES)
    later = await customer(client, admin, erased_id)
    assert later["conversions"] == 4  # o-3 and o-4 too; o-5 waits for its click
    assert await retry_count(redis, settings) == 1
    rows = await pool.fetch("SELECT txid, customer_id, recurring FROM conversions ORDER BY txid")
    assert [(r["txid"], r["customer_id"]) for r in rows] == [
        ("k-1", kept_id),
        ("o-1", erased_id),
        ("o-2", erased_id),
        ("o-3", erased_id),
        ("o-4", erased_id),
    ]

    # The old link is gone: the same external ID makes a new customer.
    await postback(client, token, click_id=first, txid="o-6", customer_id=EXTERNAL)
    await run_worker(settings)
    assert await customer_of(pool, EXTERNAL) not in (erased_id, kept_id)
    assert (await customer(client, admin, erased_id))["conversions"] == 4


async def test_a_conversion_entry_a_worker_holds_is_counted_once(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    catalog: dict[str, Any],
    settings: Settings,
    pool: Pool,
    redis: Redis,
) -> None:
    token = catalog["advertiser"]["postback_token"]
    await postback(client, token, txid="h-0", customer_id=EXTERNAL)  # no customer yet
    first = await visit(client, catalog["alice_link"]["code"], IP, "Cust")
    await run_worker(settings)
    await postback(client, token, click_id=first, txid="h-1", amount="4", customer_id=EXTERNAL)
    await run_worker(settings)
    erased_id = await customer_of(pool, EXTERNAL)
    await postback(client, token, txid="h-2", amount="6", customer_id=EXTERNAL)
    held: list[tuple[str, bytes]] = []
    shards = keys.shard_keys(keys.CONVERSIONS, settings.stream_shards)
    for shard in shards:
        reply: Any = await redis.xreadgroup(keys.GROUP, "held", {shard: ">"}, count=10)
        held += [(i.decode(), f[b"r"]) for _, entries in reply for i, f in entries]
        if reply:
            held_shard = shard
    assert len(held) == 1
    # The worker commits what it holds before the erasure clears the row ...
    attributor = Attributor(pool, redis, settings)
    assert (await attributor.handle(held)).inserted == 1
    response = await client.delete(f"/api/v1/customers/{erased_id}", headers=admin)
    assert response.status_code == 200, response.text
    # ... and acks it after the erasure replaced it: the ack takes nothing.
    reply = await redis.register_script(SETTLE)(
        keys=[
            held_shard,
            keys.dead_letter_key(held_shard),
            keys.retry_key(held_shard),
            keys.metrics_key(held_shard),
        ],
        args=settle_args(keys.GROUP, held, BatchOutcome(inserted=1)),
    )
    assert reply[0] == 0
    await run_worker(settings)
    assert await balance(redis, settings) == (0, 0)
    rows = await pool.fetch("SELECT txid, customer_id, revenue FROM conversions ORDER BY txid")
    assert [(r["txid"], r["customer_id"]) for r in rows] == [
        ("h-0", None),  # unattributed: unknown_customer
        ("h-1", erased_id),
        ("h-2", erased_id),
    ]
    assert (await customer(client, admin, erased_id))["conversions"] == 2
    assert_nowhere(await dump.everything(pool, redis, settings.tracker_data_dir), [EXTERNAL])
