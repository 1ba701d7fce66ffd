"""The conversions stream's handler leaves splitting a refused batch to the stream consumer."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from app.attribution import consumer as attribution_consumer
from app.clickid import parse_click_id
from app.db import Pool
from app.postbacks.records import ConversionRecord
from app.settings import Settings
from app.streams import keys
from tests.support.conversions import click, conversions, run_worker


def queued(shop: dict[str, Any], click_id: str, txid: str, amount: str) -> bytes:
    parsed = parse_click_id(click_id)
    assert parsed is not None
    return ConversionRecord(
        via="postback",
        advertiser_id=shop["advertiser"]["id"],
        click_id=parsed,
        txid=txid,
        amount=Decimal(amount),
        payout=None,
        currency=None,
        status="approved",
        event=None,
        received_us=time.time_ns() // 1000,
    ).encode()


async def test_a_record_postgresql_refuses_is_dead_lettered_alone(
    app: FastAPI,
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    settings: Settings,
    pool: Pool,
    redis: Redis,
) -> None:
    alice = await click(app, client, shop["alice_link"]["code"])
    await run_worker(settings)
    # Past numeric(18, 4): intake never queues it, but a record may come from elsewhere.
    bad = queued(shop, alice, "BAD", "1e30")
    attributor = attribution_consumer.Attributor(pool, redis, settings)
    with pytest.raises(asyncpg.DataError):
        await attributor.handle([("1-0", bad)])
    stream = keys.shard_keys(keys.CONVERSIONS, settings.stream_shards)[0]
    for record in (queued(shop, alice, "A", "10"), bad, queued(shop, alice, "B", "20")):
        await redis.xadd(stream, {"r": record})
    await run_worker(settings)
    assert sorted(r["txid"] for r in await conversions(pool)) == ["A", "B"]
    letters: Any = await redis.xrange(keys.dead_letter_key(stream))
    [(_, dead)] = letters
    assert dead[b"record"] == bad
    assert dead[b"error"].decode().startswith("NumericValueOutOfRangeError: ")
    assert (await redis.xpending(stream, keys.GROUP))["pending"] == 0
