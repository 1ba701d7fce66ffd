"""bench_webhooks (c): a sustained run. Conversion events are emitted at a steady rate (as
attribution would, in batches, each in a transaction) while sender processes deliver
them; every second the backlog (pending rows) and the lag (age of the oldest due row)
are read, so a growing backlog shows."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import uvloop

from app import db
from app.sender import deliveries
from app.sender.engine import Sender
from app.settings import Settings
from app.webhooks import events

SCRIPT = Path(__file__).resolve().parent / "bench_webhooks.py"
TICK_S = 0.1
DRAIN_S = 30.0
# The oldest row due and not claimed: how far behind the senders are.
LAG = """
SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0)::float FROM (
    SELECT created_at FROM deliveries WHERE status = 'pending' AND next_attempt_at <= now()
    ORDER BY next_attempt_at LIMIT 1) due
"""
PENDING = "SELECT count(*) FROM deliveries WHERE status = 'pending'"
# The backends of this database (producer, senders, this watcher): their CPU is what
# PostgreSQL spends on the fan-out (the server's shared processes are not counted).
BACKENDS = "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float | None:
    """User and system CPU of a local process, seconds (None when it is gone or not
    local)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class BackendCpu:
    """CPU of the database's backends over a run, sampled (a backend that ends between
    samples loses its last second)."""

    def __init__(self) -> None:
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}

    async def sample(self, conn: asyncpg.Connection[asyncpg.Record]) -> None:
        for row in await conn.fetch(BACKENDS):
            cpu = _cpu_s(row["pid"])
            if cpu is not None:
                self.first.setdefault(row["pid"], cpu)
                self.last[row["pid"]] = cpu

    def total_s(self) -> float:
        return sum(cpu - self.first[pid] for pid, cpu in self.last.items())


Conversions = Callable[[int, int], Sequence[tuple[Mapping[str, Any], str | None, str, str]]]


def _timed(stats: dict[str, list[float]], name: str, call: Any) -> Any:
    async def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await call(*args, **kwargs)
        finally:
            stat = stats.setdefault(name, [0, 0.0])
            stat[0] += 1
            stat[1] += time.perf_counter() - started

    return timed


def sender_child() -> None:
    """One `tracker sender`-like process (default settings, a pool of 4, loopback
    allowed, on uvloop) until SIGTERM; prints what it sent, its CPU per delivery and its statements
    (count, mean time: the claims, releases and batches recorded)."""

    async def go() -> None:
        url = os.environ["BENCH_DATABASE_URL"]
        pool = await db.create_pool(url, min_size=1, max_size=4)
        stats: dict[str, list[float]] = {}
        for name in ("claim", "release", "record_many"):
            setattr(deliveries, name, _timed(stats, name, getattr(deliveries, name)))
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        sender = Sender(pool, Settings(sender_allowed_networks=["127.0.0.0/8"]))
        cpu_started = time.process_time()  # after the imports and the pool
        print("ready", flush=True)
        try:
            await sender.run(stop=stop)
        finally:
            await sender.aclose()
            await pool.close()
        # CPU per delivery: what the load of the shared machine does not change much.
        cpu_us = (time.process_time() - cpu_started) / max(1, sender.sent) * 1e6
        calls = " ".join(f"{k}={n:.0f}x{t / max(1, n) * 1000:.1f}ms" for k, (n, t) in stats.items())
        print(
            f"sent={sender.sent} failed={sender.failed} cpu={cpu_us:.0f} us/delivery {calls}",
            flush=True,
        )

    uvloop.run(go())  # as `tracker sender` runs


async def _produce(
    pool: db.Pool, conversions: Conversions, rate: int, duration_s: float, produced: list[int]
) -> None:
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < duration_s:
        due = int(rate * elapsed) - produced[0]
        if due > 0:
            count = min(due, max(1, rate // 2))
            async with pool.acquire() as conn, conn.transaction():
                await events.emit_conversions(conn, conversions(produced[0], count))
            produced[0] += count
        await asyncio.sleep(TICK_S)


async def sustained(
    database_url: str,
    *,
    conversions: Conversions,
    rate: int,
    duration_s: float,
    senders: int,
    endpoints: int,
) -> None:
    env = os.environ | {"BENCH_DATABASE_URL": database_url}
    children = [
        subprocess.Popen(  # noqa: ASYNC220 (started once, before the run)
            [sys.executable, str(SCRIPT), "--sender-child"], env=env, stdout=subprocess.PIPE
        )
        for _ in range(senders)
    ]
    pool = await db.create_pool(database_url, min_size=1, max_size=2)
    watcher = await asyncpg.connect(database_url)
    produced = [0]
    samples: list[tuple[float, int, int, float]] = []  # t, produced, pending, lag
    backends = BackendCpu()
    try:
        for child in children:  # the senders start (imports take seconds on a busy machine)
            assert child.stdout is not None
            await asyncio.to_thread(child.stdout.readline)
        await backends.sample(watcher)
        producer = asyncio.create_task(_produce(pool, conversions, rate, duration_s, produced))
        started = time.perf_counter()
        while not producer.done():
            await asyncio.sleep(1.0)
            t = time.perf_counter() - started
            pending, lag = await watcher.fetchval(PENDING), await watcher.fetchval(LAG)
            await backends.sample(watcher)
            samples.append((t, produced[0], pending, lag))
            if len(samples) % 5 == 0:
                print(
                    f"  t={t:5.1f} s  conversions {produced[0]:>8,}  "
                    f"pending {pending:>8,}  lag {lag:6.2f} s",
                    flush=True,
                )
        await producer
        ended = time.perf_counter() - started
        backlog = await watcher.fetchval(PENDING)
        await backends.sample(watcher)
        pg_cpu_s = backends.total_s()
        made = produced[0] * endpoints
        delivered_in_run = made - backlog
        drain_started = time.perf_counter()
        # Only the table tells when the sender processes are done.
        while (left := await watcher.fetchval(PENDING)) and (  # noqa: ASYNC110
            time.perf_counter() - drain_started < DRAIN_S
        ):
            await asyncio.sleep(0.2)
        drained = time.perf_counter() - drain_started
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            out, _ = child.communicate(timeout=60)
            print(f"  sender: {out.decode().strip()}")
        await watcher.close()
        await pool.close()
    total = await _totals(database_url)
    third = max(1, len(samples) // 3)
    print(
        f"(c) {senders} sender(s), {endpoints} endpoints, target {rate:,} conversions/s for "
        f"{duration_s:g} s: emitted {produced[0] / ended:,.0f} conversions/s "
        f"({made:,} deliveries rows), delivered {delivered_in_run / ended:,.0f} webhooks/s "
        f"in the run"
    )
    print(
        f"    backlog (pending) at 1/3, 2/3, end: {samples[third - 1][2]:,} / "
        f"{samples[2 * third - 1][2]:,} / {backlog:,}; lag max {max(s[3] for s in samples):.2f} s, "
        f"at the end {samples[-1][3]:.2f} s; "
        + (f"drained in {drained:.1f} s" if not left else f"{left:,} still pending after drain")
    )
    print(
        f"    PostgreSQL backends' CPU in the run: {pg_cpu_s:.1f} s, "
        f"{pg_cpu_s / max(1, delivered_in_run) * 1e6:,.0f} us per webhook delivered "
        f"(producer's inserts included); load average {os.getloadavg()[0]:.1f}"
    )
    print(f"    rows: {total}")


async def _totals(database_url: str) -> dict[str, int]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT status, count(*) FROM deliveries GROUP BY 1")
        counts = {r["status"]: r["count"] for r in rows}
        counts["attempts"] = await conn.fetchval("SELECT count(*) FROM delivery_attempts")
        return counts
    finally:
        await conn.close()
