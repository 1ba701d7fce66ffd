"""Integers that reach PostgreSQL (BIGINT) are refused at intake when they do not fit."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from app.clickid import new_click_id
from app.db import Pool
from app.postbacks import records
from app.postbacks.routes import GIF
from app.postbacks.service import TooLarge, read_body
from app.settings import Settings
from app.streams import keys
from app.streams.records import PoisonRecord
from tests.helpers import assert_error, stream_entries
from tests.support.conversions import click, conversions, postback, run_worker, stream_length

PAST_BIGINT = ["9223372036854775808", "9999999999999999999", "18446744073709551616"]


async def dead_letters(redis: Redis, settings: Settings) -> list[Any]:
    found: list[Any] = []
    for key in keys.shard_keys(keys.CONVERSIONS, settings.stream_shards):
        found += await stream_entries(redis, keys.dead_letter_key(key))
    return found


@pytest.mark.parametrize("offer_id", PAST_BIGINT)
async def test_a_postback_with_an_offer_id_past_bigint_is_a_400(
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    settings: Settings,
    redis: Redis,
    offer_id: str,
) -> None:
    response = await postback(client, shop["token"], click_id=new_click_id()[0], offer_id=offer_id)
    assert_error(response, 400, "invalid_parameter")
    as_json = await client.post(
        "/postback",
        content=b'{"token": "%s", "click_id": "%s", "offer_id": %s}'
        % (shop["token"].encode(), new_click_id()[0].encode(), offer_id.encode()),
        headers={"Content-Type": "application/json"},
    )
    assert_error(as_json, 400)
    assert await stream_length(redis, settings) == 0


@pytest.mark.parametrize("offer_id", PAST_BIGINT)
async def test_a_pixel_with_an_offer_id_past_bigint_is_a_gif_and_nothing_else(
    app: FastAPI,
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    settings: Settings,
    pool: Pool,
    redis: Redis,
    offer_id: str,
) -> None:
    settings.attribution_deadline_s = 0
    click_id = await click(app, client, shop["alice_link"]["code"])
    response = await client.get(
        "/pixel.gif", params={"click_id": click_id, "txid": "W-1", "offer_id": offer_id}
    )
    assert (response.status_code, response.content) == (200, GIF)
    assert await stream_length(redis, settings) == 0
    await run_worker(settings)
    assert await conversions(pool) == []
    assert await dead_letters(redis, settings) == []


async def test_the_largest_bigint_goes_through_to_postgresql(
    app: FastAPI,
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    settings: Settings,
    pool: Pool,
    redis: Redis,
) -> None:
    click_id = await click(app, client, shop["alice_link"]["code"])
    await run_worker(settings)
    response = await client.get(
        "/pixel.gif", params={"click_id": click_id, "txid": "W-2", "offer_id": str(2**63 - 1)}
    )
    assert (response.status_code, response.content) == (200, GIF)
    assert await stream_length(redis, settings) == 1
    await run_worker(settings)
    assert len(await conversions(pool)) == 1
    assert await dead_letters(redis, settings) == []


@pytest.mark.parametrize("field", ["off", "adv", "tu", "n"])
def test_a_queued_record_with_an_integer_past_bigint_is_poison(field: str) -> None:
    """Defence in depth: such a record is dead-lettered with its reason by the worker,
    instead of failing in PostgreSQL on every retry of its batch."""
    record = records.ConversionRecord(
        via="postback",
        advertiser_id=1,
        click_id=uuid.UUID(int=1),
        txid=None,
        amount=None,
        payout=None,
        currency=None,
        status="approved",
        event=None,
        received_us=1,
    )
    data = orjson.loads(record.encode())
    assert records.decode(orjson.dumps(data)) == record
    data[field] = 2**63
    with pytest.raises(PoisonRecord, match=f"bad {field}"):
        records.decode(orjson.dumps(data))


@pytest.mark.parametrize("declared", ["9" * 5000, "9" * 19, "65537"])
async def test_a_declared_body_size_past_the_limit_is_a_413_however_long(declared: str) -> None:
    async def chunks() -> Any:
        yield b"x"

    with pytest.raises(TooLarge):
        await read_body(chunks(), declared=declared, limit=65_536)
