import time
from typing import Any

import httpx
import orjson
from fastapi import FastAPI
from redis.asyncio import Redis

from app import worker as stream_worker
from app.caps.clicks import ADMISSION, ClickCap, counter_args
from app.clickid import new_click_id
from app.clicks import record as click_record
from app.db import Pool
from app.settings import Settings
from app.streams.producer import StreamProducer
from tests.helpers import reload_links

BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120"}


async def test_clicks_over_a_cap_go_to_the_fallback_and_are_recorded_with_the_reason(
    app: FastAPI,
    client: httpx.AsyncClient,
    catalog: dict[str, Any],
    admin: dict[str, str],
    settings: Settings,
    pool: Pool,
) -> None:
    offer = catalog["offer"]
    caps = [
        {"metric": "clicks", "period": "day", "limit": 3},
        {"metric": "clicks", "period": "month", "limit": 1, "affiliate_id": catalog["bob"]["id"]},
    ]
    patched = await client.patch(
        f"/api/v1/offers/{offer['id']}", json={"caps": caps}, headers=admin
    )
    assert patched.status_code == 200, patched.text
    await reload_links(app)

    async def go(link: dict[str, Any]) -> str:
        response = await client.get(f"/c/{link['code']}", headers=BROWSER)
        assert response.status_code == 302
        return str(response.headers["location"])

    bob = [await go(catalog["bob_link"]) for _ in range(2)]
    alice = [await go(catalog["alice_link"]) for _ in range(3)]
    assert bob[0].startswith("https://shop.example/landing")
    assert bob[1] == "https://shop.example/"
    # Bob's diverted click did not count against the offer's daily cap of 3.
    assert [a.startswith("https://shop.example/landing") for a in alice] == [True, True, False]

    await stream_worker.run(settings, burst=True)
    diverted = await pool.fetch(
        "SELECT affiliate_id, diverted FROM clicks WHERE diverted IS NOT NULL ORDER BY 1"
    )
    assert [(r["affiliate_id"], r["diverted"]) for r in diverted] == [
        (catalog["alice"]["id"], "cap"),
        (catalog["bob"]["id"], "cap"),
    ]
    assert await pool.fetchval("SELECT count(*) FROM clicks") == 5


def test_counters_are_per_utc_day_and_month_and_share_the_shard_tag() -> None:
    caps = (ClickCap("o1:a*", "day", 5), ClickCap("o1:a2", "month", 9))
    # 2026-11-24T23:59:59Z and one second later fall in different days, same month.
    before = counter_args("clicks:{1}", caps, 1795564799.0)
    after = counter_args("clicks:{1}", caps, 1795564800.0)
    assert before[1] != after[1]
    assert before[4] == after[4] == b"clicks:{1}:cap:o1:a2:m202611"
    assert all(k.startswith(b"clicks:{1}:") for k in (before[1], before[4]))


async def test_the_admission_script_marks_a_capped_click_whatever_its_member_order(
    settings: Settings, redis: Redis
) -> None:
    """The script adds the cap's reason to the record it stores; the click record module
    reads it back, wherever the record's other members are."""
    shard = "clicks:{0}"
    producer = StreamProducer(
        str(settings.redis_url), [shard], budget_s=5, max_batch=8, admission=ADMISSION
    )
    caps = counter_args(shard, (ClickCap("o9:a*", "day", 1),), time.time())
    click_id, ms = new_click_id()
    plain = click_record.encode(
        click_id, ms, 1, 2, 9, "USD", None, {}, "203.0.113.7", None, None, None, False
    )
    reordered = orjson.dumps(dict(reversed(list(orjson.loads(plain).items()))))
    producer.start()
    try:
        within = [await producer.enqueue(r, shard=0, admission=caps) for r in (plain, reordered)]
    finally:
        await producer.stop()
    assert within == [True, False]
    entries: Any = await redis.xrange(shard)
    [(_, first), (_, second)] = entries
    # An admitted record is stored as it was; the capped one is diverted by the cap.
    assert first[b"r"] == plain
    assert click_record.decode(plain).diverted is None
    assert click_record.decode(second[b"r"]).diverted == "cap"
    assert click_record.decode(second[b"r"]).click_id == click_record.decode(plain).click_id
    # The refused click took its increment back: the counter holds the admitted one.
    assert await redis.get(caps[1]) == b"1"
