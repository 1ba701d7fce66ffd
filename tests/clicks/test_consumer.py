from typing import Any

import orjson
from redis.asyncio import Redis

from app import worker
from app.clickid import new_click_id
from app.clicks import record as click_record
from app.db import Pool
from app.settings import Settings
from app.streams import keys


def click(link: dict[str, Any], *, link_id: int | None = None) -> bytes:
    click_id, ms = new_click_id()
    return click_record.encode(
        click_id,
        ms,
        link["id"] if link_id is None else link_id,
        link["affiliate_id"],
        link["offer_id"],
        "USD",
        None,
        {},
        "203.0.113.7",
        "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120",
        None,
        None,
        False,
    )


async def test_a_click_that_cannot_be_stored_is_dead_lettered_alone_and_the_rest_stored(
    catalog: dict[str, Any], settings: Settings, pool: Pool, redis: Redis
) -> None:
    link = catalog["alice_link"]
    shard = keys.shard_keys(keys.CLICKS, settings.stream_shards)[0]
    # A link ID past PostgreSQL's bigint: the record decodes, the batch's COPY fails, and
    # the consumer stores the batch again one click at a time.
    records = [click(link), click(link, link_id=2**63), click(link)]
    for raw in records:
        await redis.xadd(shard, {"r": raw})
    counters = await worker.run(settings, burst=True)
    assert (counters.stored, counters.dead_lettered) == (2, 1)
    assert await pool.fetchval("SELECT count(*) FROM clicks") == 2
    dead_letters: Any = await redis.xrange(keys.dead_letter_key(shard))
    [(_, dead)] = dead_letters
    assert dead[b"record"] == records[1]
    assert orjson.loads(dead[b"record"])["l"] == 2**63
    assert dead[b"error"] == b"OverflowError: value out of int64 range"
