"""What the sender benchmarks share: loopback receivers in a child process and a migrated
PostgreSQL (BENCH_DATABASE_URL or DATABASE_URL, whose tables the benchmark empties, else an
embedded server in a temporary folder)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app import db, embedded  # noqa: E402

RECEIVERS_SCRIPT = ROOT / "loadtests" / "bench_sender.py"

# A benchmark: given the database URL and the receivers' ports, print its figures.
Bench = Callable[[str, list[int]], Awaitable[None]]


def database_url_from_env() -> str | None:
    return os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL")


def run_with_receivers(bench: Bench, *, slow_s: float, prefix: str) -> None:
    """Start bench_sender's receivers (HTTP/1.1 keep-alive, 200 "ok"; the first ones
    answering after `slow_s`), migrate the database and run `bench` against both."""
    child = subprocess.Popen(
        [sys.executable, str(RECEIVERS_SCRIPT), "--receivers", "--slow-s", str(slow_s)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        ports = [int(p) for p in child.stdout.readline().split()]
        database_url = database_url_from_env()
        if database_url:
            asyncio.run(_migrated(bench, database_url, ports))
            return
        with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
            servers = embedded.start(Path(tmp), database="postgres", durable=False)
            try:
                asyncio.run(_migrated(bench, servers.database_url, ports))
            finally:
                servers.stop()
    finally:
        child.terminate()
        child.wait()


async def _migrated(bench: Bench, database_url: str, ports: list[int]) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await db.migrate(conn)
    finally:
        await conn.close()
    await bench(database_url, ports)
