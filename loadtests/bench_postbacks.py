"""Conversions benchmark (issue 5). Prints its figures.

    .venv/bin/python -m loadtests.bench_postbacks [--duration 5] [--connections 64]
                                                 [--conversions 50000] [--grouped]

Uses the system PostgreSQL and Redis (BENCH_DATABASE_URL, default a fresh database
tracker_bench_conversions on 127.0.0.1:5432; BENCH_REDIS_URL, default
redis://127.0.0.1:6379/5, flushed), loopback only. In one run:
  (a) wrk against a raw ASGI app answering a constant 302 (the baseline), then
  (b) wrk against GET /postback on `tracker serve` (one process): token from the cache,
      parameters checked, the record durably queued on the conversions stream, each
      request with its own txid;
  (c) one attribution consumer (the worker's) draining N queued conversions of N
      distinct stored clicks into conversions + history + rollups + outbox;
  (d) the same with customers and coupons on (issue 13): of every four conversions two
      come by click with a new customer_id (each binds a customer), one by coupon with a
      new customer_id, one with no click but the customer_id of the one three before it
      (credited by the customer's binding, recurring).
`--attribution-only` skips (a) and (b). `--grouped` puts every affiliate in a commission
group with a rule for the offer, so attribution in (c) also loads group terms and pays by
them (checked after the run).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg
from redis.asyncio import Redis

from app import worker as stream_worker
from app.attribution import consumer as attribution_consumer
from app.clickid import click_time, new_click_id, parse_click_id
from app.db import create_pool
from app.postbacks.records import ConversionRecord
from app.settings import Settings
from app.streams import keys
from loadtests.bench_redirect import (
    PY,
    ROOT,
    UVICORN_FLAGS,
    cpu_seconds,
    free_port,
    prepare,
    wait_port,
    wrk,
)

# Each request gets its own txid: thread id, counter and a random part.
WRK_SCRIPT = """
local counter = 0
local tag = math.random(1, 1000000000)
request = function()
  counter = counter + 1
  return wrk.format("GET", wrk.path .. "&txid=" .. tag .. "-" .. counter)
end
"""


GROUP_PAYOUT = Decimal("1.75")  # a fixed group rule for the offer


async def demo_link(env: dict[str, str], *, grouped: bool) -> tuple[str, dict[str, int]]:
    """The seeded demo's advertiser token and one link's IDs."""
    conn = await asyncpg.connect(env["DATABASE_URL"])
    try:
        link = await conn.fetchrow(
            "SELECT l.id, l.affiliate_id, l.offer_id, o.advertiser_id FROM links l"
            " JOIN offers o ON o.id = l.offer_id ORDER BY l.id LIMIT 1"
        )
        assert link is not None
        # Recurring main goal: every bench conversion is a new approved one, the costly path.
        await conn.execute(
            "UPDATE offers SET main_goal_multiple = true, payout_type = 'percent',"
            " payout_value = 12.5 WHERE id = $1",
            link["offer_id"],
        )
        if grouped:
            group_id = await conn.fetchval(
                "INSERT INTO commission_groups (name, rank, default_type, default_value)"
                " VALUES ('bench', 1000, 'fixed', 1) ON CONFLICT (name) DO UPDATE"
                " SET rank = 1000 RETURNING id"
            )
            await conn.execute(
                "INSERT INTO group_payout_rules VALUES ($1, $2, 'fixed', $3)"
                " ON CONFLICT DO NOTHING",
                group_id,
                link["offer_id"],
                GROUP_PAYOUT,
            )
            await conn.execute("UPDATE affiliates SET group_id = $1", group_id)
        token: str = await conn.fetchval(
            "SELECT postback_token FROM advertisers WHERE id = $1", link["advertiser_id"]
        )
        return token, dict(link)
    finally:
        await conn.close()


async def store_clicks(database_url: str, link: dict[str, int], count: int) -> list[str]:
    """`count` clicks of one link, stored directly (the click pipeline has its own bench)."""
    ids = [new_click_id()[0] for _ in range(count)]
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("SELECT ensure_click_partitions(current_date - 1, 3)")
        rows = []
        for i, text in enumerate(ids):
            click_uuid = parse_click_id(text)
            assert click_uuid is not None
            rows.append(
                (
                    click_uuid,
                    click_time(click_uuid),
                    link["id"],
                    link["affiliate_id"],
                    link["offer_id"],
                    f"s{i % 50}",
                    ("DE", "FR", "US")[i % 3],
                    ("desktop", "mobile")[i % 2],
                    "Linux",
                    "Firefox",
                )
            )
        await conn.copy_records_to_table(
            "clicks",
            records=rows,
            columns=[
                "click_id",
                "clicked_at",
                "link_id",
                "affiliate_id",
                "offer_id",
                "sub1",
                "country",
                "device",
                "os",
                "browser",
            ],
        )
    finally:
        await conn.close()
    return ids


async def add_coupon(database_url: str, link: dict[str, int]) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO coupons (advertiser_id, offer_id, affiliate_id, code)"
            " VALUES ($1, $2, $3, 'BENCH')",
            link["advertiser_id"],
            link["offer_id"],
            link["affiliate_id"],
        )
    finally:
        await conn.close()


def with_customers(i: int, record: ConversionRecord, tag: str) -> ConversionRecord:
    """Record i of run (d): by click, coupon or customer binding (see the docstring)."""
    kind = i % 4
    if kind < 2:
        return replace(record, customer_id=f"{tag}c{i}")
    if kind == 2:
        return replace(record, click_id=None, coupon="bench", customer_id=f"{tag}k{i}")
    return replace(record, click_id=None, customer_id=f"{tag}c{i - 3}")


async def queue_conversions(
    redis_url: str,
    settings: Settings,
    advertiser_id: int,
    click_ids: list[str],
    *,
    prefix: str = "bench-",
    customers: bool = False,
) -> None:
    redis = Redis.from_url(redis_url)
    try:
        for key in keys.shard_keys(keys.CONVERSIONS, settings.stream_shards):
            await redis.delete(key)
        shards = keys.shard_keys(keys.CONVERSIONS, settings.stream_shards)
        now_us = time.time_ns() // 1000
        async with redis.pipeline(transaction=False) as pipe:
            for i, text in enumerate(click_ids):
                click_uuid = parse_click_id(text)
                assert click_uuid is not None
                record = ConversionRecord(
                    via="postback",
                    advertiser_id=advertiser_id,
                    click_id=click_uuid,
                    txid=f"{prefix}{i}",
                    amount=None,
                    payout=None,
                    currency=None,
                    status="approved",
                    event=None,
                    received_us=now_us + i,
                )
                if customers:
                    record = with_customers(i, record, prefix)
                pipe.xadd(shards[i % len(shards)], {"r": record.encode()})
            await pipe.execute()
    finally:
        await redis.aclose()


async def attribute_all(
    settings: Settings, expected: int, prefix: str = "bench-", *, grouped: bool = False
) -> tuple[float, int]:
    """One conversions consumer, burst mode: (seconds, conversions stored)."""
    assert settings.database_url
    assert settings.redis_url
    pool = await create_pool(settings.database_url, min_size=1, max_size=4)
    redis = Redis.from_url(settings.redis_url)
    try:
        attributor = attribution_consumer.Attributor(pool, redis, settings)
        consumer = stream_worker.StreamConsumer(
            redis=redis,
            stream_keys=keys.shard_keys(keys.CONVERSIONS, settings.stream_shards),
            handler=attributor.handle,
            consumer="bench",
            batch=settings.worker_batch,
        )
        await consumer.ensure_groups()
        started = time.perf_counter()
        await consumer.run(stop=asyncio.Event(), burst=True)
        elapsed = time.perf_counter() - started
        stored = await pool.fetchval(
            "SELECT count(*) FROM conversions WHERE txid LIKE $1 || '%' AND status = 'approved'",
            prefix,
        )
        assert stored == expected, (stored, expected)
        if grouped:
            paid = await pool.fetch(
                "SELECT DISTINCT payout FROM conversions WHERE txid LIKE $1 || '%'", prefix
            )
            assert [r["payout"] for r in paid] == [GROUP_PAYOUT], paid
        return elapsed, int(stored)
    finally:
        await redis.aclose()
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--conversions", type=int, default=50_000)
    parser.add_argument("--grouped", action="store_true")
    parser.add_argument("--attribution-only", action="store_true")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    database_url = os.environ.get(
        "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/tracker_bench_conversions"
    )
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")
    asyncio.run(prepare(database_url, redis_url))
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "TRACKER_DATA_DIR": "/tmp/tracker-bench-conversions",
        "LOG_LEVEL": "warning",
    }
    subprocess.run([PY, "-m", "app.cli", "seed"], env=env, check=True, capture_output=True)
    token, link = asyncio.run(demo_link(env, grouped=args.grouped))
    click_ids = asyncio.run(store_clicks(database_url, link, args.conversions))
    asyncio.run(add_coupon(database_url, link))
    if not args.attribution_only:
        intake_figures(args, env, token, click_ids)
    settings = Settings(database_url=database_url, redis_url=redis_url)
    # Without and with customers in turn, each round on fresh clicks: the machine's load
    # (and the tables' growth) weighs on both alike.
    for round_ in range(args.rounds):
        if round_:
            click_ids = asyncio.run(store_clicks(database_url, link, args.conversions))
        prefix = f"bench{round_}-"
        asyncio.run(
            queue_conversions(redis_url, settings, link["advertiser_id"], click_ids, prefix=prefix)
        )
        elapsed, stored = asyncio.run(
            attribute_all(settings, args.conversions, prefix, grouped=args.grouped)
        )
        print(
            f"attribution (1 consumer)   : {stored} conversions in {elapsed:.2f} s = "
            f"{stored / elapsed:.0f} conversions/s (rollups, history, outbox in the same "
            "transaction)",
            flush=True,
        )
        customer_clicks = asyncio.run(store_clicks(database_url, link, args.conversions))
        prefix = f"benchc{round_}-"
        before = asyncio.run(count_customers(database_url))
        asyncio.run(
            queue_conversions(
                redis_url,
                settings,
                link["advertiser_id"],
                customer_clicks,
                prefix=prefix,
                customers=True,
            )
        )
        elapsed_c, stored_c = asyncio.run(attribute_all(settings, args.conversions, prefix))
        bound = asyncio.run(count_customers(database_url)) - before
        print(
            f"  with customers, coupons  : {stored_c} conversions in {elapsed_c:.2f} s = "
            f"{stored_c / elapsed_c:.0f} conversions/s ({bound} customers bound; a quarter "
            "by coupon, a quarter credited by binding)",
            flush=True,
        )


async def count_customers(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM customers"))
    finally:
        await conn.close()


def intake_figures(
    args: argparse.Namespace, env: dict[str, str], token: str, click_ids: list[str]
) -> None:
    """(a) and (b): the raw 302 baseline and the /postback intake, printed."""
    port = free_port()
    base = subprocess.Popen(
        [PY, "-m", "uvicorn", "loadtests.baseline_app:app", "--port", str(port), *UVICORN_FLAGS],
        cwd=ROOT,
    )
    try:
        wait_port(port)
        wrk(f"http://127.0.0.1:{port}/c/x", 2, args.connections)  # warm-up
        baseline = wrk(f"http://127.0.0.1:{port}/c/x", args.duration, args.connections)
    finally:
        base.send_signal(signal.SIGINT)
        base.wait()

    port = free_port()
    web = subprocess.Popen([PY, "-m", "app.cli", "serve", "--port", str(port)], env=env, cwd=ROOT)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    try:
        wait_port(port)
        url = (
            f"http://127.0.0.1:{port}/postback?token={token}&click_id={click_ids[0]}"
            "&amount=49.90&status=approved"
        )
        extra = ["-s", script.name]
        wrk(url, 2, args.connections, extra)  # warm-up
        web_cpu = cpu_seconds(web.pid)
        intake = wrk(url, args.duration, args.connections, extra)
        web_share = (cpu_seconds(web.pid) - web_cpu) / args.duration
    finally:
        web.send_signal(signal.SIGINT)
        web.wait()
        Path(script.name).unlink()

    ratio = intake["rps"] / baseline["rps"]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"run at {when}; {args.duration} s per wrk run, {args.connections} connections")
    print(
        f"baseline raw ASGI 302      : {baseline['rps']:>9.0f} req/s"
        f"  p50 {baseline['p50']:.2f} ms"
        f"  p99 {baseline['p99']:.2f} ms"
    )
    print(
        f"GET /postback (accepted)   : {intake['rps']:>9.0f} req/s  p50 {intake['p50']:.2f} ms"
        f"  p99 {intake['p99']:.2f} ms  non-2xx {intake['bad']}"
    )
    print(f"ratio intake / baseline    : {ratio:.2f}  (web process {web_share:.0%} of a core)")


if __name__ == "__main__":
    main()
