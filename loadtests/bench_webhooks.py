"""Webhook benchmark (issue 15): the fan-out written in attribution's transaction, and the
sender's rate for signed webhook deliveries. Prints its figures.

    .venv/bin/python -m loadtests.bench_webhooks [--conversions 50000] [--batch 500]
        [--deliveries 5000]

PostgreSQL: BENCH_DATABASE_URL (or DATABASE_URL), whose tables are emptied, else an
embedded server in a temporary folder.
  (a) `events.emit_conversions` for batches of `--batch` conversion events, each batch in a
      transaction as attribution runs it, with 0 and with 2 program endpoints subscribed:
      events/s (what the fan-out adds to attribution's write path) and deliveries rows/s;
  (b) one sender (default settings, as `tracker sender`) sending `--deliveries` webhook
      deliveries (signed, Standard Webhooks) to 2 receivers in a child process on
      127.0.0.1: deliveries/s.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import db  # noqa: E402
from app.sender.engine import Sender  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.signing import new_webhook_secret  # noqa: E402
from app.webhooks import events  # noqa: E402
from loadtests import bench_setup, bench_webhooks_run  # noqa: E402

TABLES = "delivery_attempts, deliveries, webhooks, affiliates"
EVENTS = ["conversion.created", "conversion.updated"]


def _conversion(n: int, now: datetime) -> dict[str, Any]:
    return {
        "id": n,
        "advertiser_id": 1,
        "offer_id": 1,
        "affiliate_id": 1 + n % 10,
        "link_id": 1 + n % 10,
        "goal": "sale",
        "txid": f"tx{n}",
        "click_id": uuid.uuid4(),
        "reason": None,
        "amount": Decimal("80.0000"),
        "amount_currency": "USD",
        "currency": "USD",
        "revenue": Decimal("4.0000"),
        "payout": Decimal("2.5000"),
        "sub1": "kw",
        "source": "feed",
        "aff_click_id": None,
        "country": "DE",
        "via": "postback",
        "created_at": now,
    }


async def _endpoints(pool: db.Pool, urls: list[str]) -> None:
    await pool.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    for url in urls:
        await pool.execute(
            "INSERT INTO webhooks (url, events, secret) VALUES ($1, $2, $3)",
            url,
            EVENTS,
            new_webhook_secret(),
        )


async def _fan_out(pool: db.Pool, count: int, batch: int) -> float:
    now = datetime.now(UTC)
    rows = [_conversion(n, now) for n in range(count)]
    started = time.perf_counter()
    async with pool.acquire() as conn:
        for first in range(0, count, batch):
            async with conn.transaction():
                await events.emit_conversions(
                    conn,
                    [(row, None, "approved", "postback") for row in rows[first : first + batch]],
                )
    return count / (time.perf_counter() - started)


async def _send(database_url: str, ports: list[int], count: int) -> float:
    settings = Settings(sender_allowed_networks=["127.0.0.0/8"])
    pool = await db.create_pool(database_url, min_size=1, max_size=4)
    try:
        await _endpoints(pool, [f"http://127.0.0.1:{p}/hooks" for p in ports])
        now = datetime.now(UTC)
        async with pool.acquire() as conn, conn.transaction():
            await events.emit_conversions(
                conn,
                [(_conversion(n, now), None, "approved", "postback") for n in range(count // 2)],
            )
        total = await pool.fetchval("SELECT count(*) FROM deliveries")
        sender = Sender(pool, settings)
        started = time.perf_counter()
        await sender.run(stop=asyncio.Event(), burst=True)
        elapsed = time.perf_counter() - started
        await sender.aclose()
        if sender.sent != total:
            raise RuntimeError(f"{sender.sent} of {total} delivered")
        return float(total / elapsed)
    finally:
        await pool.close()


async def _bench(database_url: str, ports: list[int], args: argparse.Namespace) -> None:
    pool = await db.create_pool(database_url, min_size=1, max_size=4)
    try:
        for subscribed in (0, 2):
            await _endpoints(pool, [f"https://hooks{i}.example/in" for i in range(subscribed)])
            rate = await _fan_out(pool, args.conversions, args.batch)
            rows = await pool.fetchval("SELECT count(*) FROM deliveries")
            print(
                f"(a) fan-out, {subscribed} endpoints: {args.conversions} events in batches of "
                f"{args.batch}: {rate:,.0f} events/s, {rows} deliveries rows"
            )
    finally:
        await pool.close()
    rate = await _send(database_url, ports, args.deliveries)
    print(f"(b) 1 sender, 2 receivers: {args.deliveries} signed webhooks, {rate:,.0f} deliveries/s")


async def _sustained(database_url: str, ports: list[int], args: argparse.Namespace) -> None:
    pool = await db.create_pool(database_url, min_size=1, max_size=4)
    try:
        await _endpoints(pool, [f"http://127.0.0.1:{p}/hooks" for p in ports])
    finally:
        await pool.close()

    def batch(first: int, count: int) -> list[tuple[dict[str, Any], None, str, str]]:
        now = datetime.now(UTC)
        rows = [_conversion(n, now) for n in range(first, first + count)]
        return [(row, None, "approved", "postback") for row in rows]

    await bench_webhooks_run.sustained(
        database_url,
        conversions=batch,
        rate=args.rate,
        duration_s=args.duration,
        senders=args.senders,
        endpoints=len(ports),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversions", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--deliveries", type=int, default=5_000)
    parser.add_argument("--sustained", action="store_true", help="(c): a run at --rate")
    parser.add_argument("--rate", type=int, default=5_000, help="conversions/s, (c)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds, (c)")
    parser.add_argument("--senders", type=int, default=1, help="sender processes, (c)")
    parser.add_argument("--sender-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sender_child:
        bench_webhooks_run.sender_child()
        return

    async def bench(database_url: str, ports: list[int]) -> None:
        if args.sustained:
            await _sustained(database_url, ports[:2], args)
        else:
            await _bench(database_url, ports[:2], args)

    # bench_sender's receivers (HTTP/1.1 keep-alive, 200 "ok"), none of them slow.
    bench_setup.run_with_receivers(bench, slow_s=0, prefix="bench-webhooks-")


if __name__ == "__main__":
    main()
