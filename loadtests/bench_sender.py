"""Sender benchmark (issue 4): deliveries per second by one sender. Prints its figures.

    .venv/bin/python loadtests/bench_sender.py [--deliveries 5000] [--slow-s 2]

PostgreSQL: BENCH_DATABASE_URL (or DATABASE_URL), whose tables are emptied, else an
embedded server in a temporary folder. Receivers run in a child process on 127.0.0.1
(HTTP/1.1 keep-alive, answering 200 "ok"), so they do not share the sender's CPU.
  (a) every delivery to receivers that answer at once: deliveries/s;
  (b) 20% of the deliveries to slow receivers (answer after --slow-s seconds), 80% to
      fast ones: the fast deliveries' rate, and its ratio to (a). The issue asks >= 0.5.
The sender runs with the default settings (SENDER_CONCURRENCY 50, a pool of 4 as
`tracker sender` uses), loopback allowed.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
import time
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import db  # noqa: E402
from app.sender.engine import Sender  # noqa: E402
from app.settings import Settings  # noqa: E402
from loadtests import bench_setup  # noqa: E402

RECEIVERS = 10
SLOW_RECEIVERS = 2  # 20% of the receivers, and (round robin) of the deliveries


# --- receivers (child process) -----------------------------------------------------


async def _serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            if delay:
                await asyncio.sleep(delay)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _receivers(slow_s: float) -> None:
    servers = []
    for i in range(RECEIVERS):
        delay = slow_s if i < SLOW_RECEIVERS else 0.0
        server = await asyncio.start_server(
            functools.partial(_serve_connection, delay=delay), "127.0.0.1", 0, backlog=1024
        )
        servers.append(server)
    ports = [s.sockets[0].getsockname()[1] for s in servers]
    print(" ".join(map(str, ports)), flush=True)
    await asyncio.Event().wait()


# --- benchmark ---------------------------------------------------------------------


async def _seed(pool: db.Pool, ports: list[int], count: int) -> None:
    async with pool.acquire() as conn:
        tables = "delivery_attempts, deliveries, conversions, offers, affiliates, advertisers"
        await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        await conn.execute(
            "INSERT INTO advertisers (name, postback_token) VALUES ('Bench', 'bench-token')"
        )
        await conn.execute(
            "INSERT INTO offers (advertiser_id, name, url) VALUES (1, 'Bench', 'https://x.test/')"
        )
        for port in ports:
            await conn.execute(
                "INSERT INTO affiliates (name, postback_url) VALUES ($1, $2)",
                f"receiver {port}",
                f"http://127.0.0.1:{port}/pb?tx={{txid}}",
            )
        await conn.execute(
            """INSERT INTO conversions (advertiser_id, txid, affiliate_id, offer_id, goal,
                   status, currency, payout, received_at)
               SELECT 1, 'tx' || n, 1 + n % $2, 1, 'sale', 'approved', 'USD', 1.5, now()
               FROM generate_series(0, $1 - 1) n""",
            count,
            len(ports),
        )
        await conn.execute(
            """INSERT INTO deliveries (conversion_id, affiliate_id, conversion_status, method, url)
               SELECT c.id, c.affiliate_id, 'approved', 'GET',
                      replace(a.postback_url, '{txid}', c.txid)
               FROM conversions c JOIN affiliates a ON a.id = c.affiliate_id ORDER BY c.id"""
        )


async def _fast_only(database_url: str, ports: list[int], count: int) -> float:
    """Deliveries/s with every receiver fast."""
    settings = Settings(sender_allowed_networks=["127.0.0.0/8"])
    pool = await db.create_pool(database_url, min_size=1, max_size=4)
    try:
        await _seed(pool, ports, count)
        sender = Sender(pool, settings)
        started = time.perf_counter()
        await sender.run(stop=asyncio.Event(), burst=True)
        elapsed = time.perf_counter() - started
        await sender.aclose()
        if sender.sent != count:
            errors = await pool.fetch(
                "SELECT error, count(*) FROM delivery_attempts GROUP BY 1 ORDER BY 2 DESC LIMIT 5"
            )
            raise RuntimeError(f"{sender.sent} of {count} delivered: {[tuple(e) for e in errors]}")
        return count / elapsed
    finally:
        await pool.close()


async def _with_slow(
    database_url: str, fast_ports: list[int], slow_ports: list[int], count: int
) -> tuple[float, int, float]:
    """Fast deliveries/s while 20% go to slow receivers; slow ones done meanwhile."""
    settings = Settings(sender_allowed_networks=["127.0.0.0/8"])
    pool = await db.create_pool(database_url, min_size=1, max_size=4)
    try:
        await _seed(pool, slow_ports + fast_ports, count)
        slow_affiliates = list(range(1, len(slow_ports) + 1))
        fast_total = await pool.fetchval(
            "SELECT count(*) FROM deliveries WHERE NOT affiliate_id = ANY($1::bigint[])",
            slow_affiliates,
        )
        sender = Sender(pool, settings)
        stop = asyncio.Event()
        started = time.perf_counter()
        running = asyncio.create_task(sender.run(stop=stop))
        # A connection of its own: the sender's pool stays as `tracker sender` has it.
        watcher = await asyncpg.connect(database_url)
        try:
            while True:
                done = await watcher.fetchval(
                    """SELECT count(*) FROM deliveries WHERE status = 'delivered'
                       AND NOT affiliate_id = ANY($1::bigint[])""",
                    slow_affiliates,
                )
                if done >= fast_total:
                    break
                await asyncio.sleep(0.02)
        finally:
            await watcher.close()
        elapsed = time.perf_counter() - started
        slow_done = await pool.fetchval(
            """SELECT count(*) FROM deliveries WHERE status = 'delivered'
               AND affiliate_id = ANY($1::bigint[])""",
            slow_affiliates,
        )
        stop.set()
        await running
        await sender.aclose()
        return fast_total / elapsed, slow_done, elapsed
    finally:
        await pool.close()


async def _bench(database_url: str, ports: list[int], count: int, slow_s: float) -> None:
    slow_ports, fast_ports = ports[:SLOW_RECEIVERS], ports[SLOW_RECEIVERS:]
    baseline_one = await _fast_only(database_url, fast_ports[:1], count)
    print(f"(a) 1 fast receiver:  {count} deliveries, {baseline_one:,.0f} deliveries/s")
    baseline = await _fast_only(database_url, fast_ports, count)
    print(f"(a) {len(fast_ports)} fast receivers: {count} deliveries, {baseline:,.0f} deliveries/s")
    fast_rate, slow_done, elapsed = await _with_slow(database_url, fast_ports, slow_ports, count)
    print(
        f"(b) {len(slow_ports)} of {len(ports)} receivers slow ({slow_s:g} s), 20% of deliveries: "
        f"fast ones {fast_rate:,.0f} deliveries/s ({elapsed:.1f} s for all fast ones; "
        f"{slow_done} slow ones delivered meanwhile)"
    )
    print(f"fast throughput ratio (b)/(a, {len(fast_ports)} receivers): {fast_rate / baseline:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--slow-s", type=float, default=2.0)
    parser.add_argument("--receivers", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receivers:
        asyncio.run(_receivers(args.slow_s))
        return

    async def bench(database_url: str, ports: list[int]) -> None:
        await _bench(database_url, ports, args.deliveries, args.slow_s)

    bench_setup.run_with_receivers(bench, slow_s=args.slow_s, prefix="bench-sender-")


if __name__ == "__main__":
    main()
