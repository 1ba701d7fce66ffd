"""Interleaved A/B of the postback intake between checkouts, for a shared, noisy machine.
Prints its figures.

    .venv/bin/python -m loadtests.ab_postbacks /tmp/ab-630 [/tmp/ab-other ...]
                                               [--rounds 6] [--duration 4] [--connections 64]

This checkout and each one named (a `git worktree add` of another commit, with its own
.venv from `scripts/_venv.sh dev`) get a fresh database each (tracker_bench_ab_<n> on
BENCH_DATABASE_URL's server, default 127.0.0.1:5432) and a Redis database each (10 + n on
BENCH_REDIS_URL's server, default 127.0.0.1:6379; flushed), are seeded by their own
`tracker seed` and serve GET /postback from their own `tracker serve` (one process each),
all running at once beside the raw ASGI 302 baseline. Each round runs wrk against the
baseline and every build in turn, the order rotating from round to round; a build's ratio
is its rate over the baseline's in the same round, so the load other work puts on the
machine moves both about alike (bench_postbacks.py measures the baseline once, up to a
minute before the intake). Printed: every round, the median ratio per build, and the web
process's CPU time per accepted postback, which depends less on that load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from redis.asyncio import Redis

from app.clickid import new_click_id
from loadtests.bench_postbacks import WRK_SCRIPT, demo_link
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


@dataclass
class Build:
    name: str
    tree: Path
    url: str = ""
    pid: int = 0
    ratios: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)


def commit_of(tree: Path) -> str:
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=tree, capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=tree,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return out.stdout.strip() + ("+changes" if dirty else "")


def start_build(
    index: int, build: Build, database: str, redis_base: str
) -> subprocess.Popen[bytes]:
    database_url = f"{database}/tracker_bench_ab_{index}"
    redis_url = f"{redis_base}/{10 + index}"
    asyncio.run(prepare(database_url, redis_url))
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "TRACKER_DATA_DIR": f"/tmp/tracker-bench-ab-{index}",
        "LOG_LEVEL": "warning",
    }
    python = str(build.tree / ".venv" / "bin" / "python")
    subprocess.run(
        [python, "-m", "app.cli", "seed"], env=env, cwd=build.tree, check=True, capture_output=True
    )
    token, _ = asyncio.run(demo_link(env, grouped=False))
    port = free_port()
    server = subprocess.Popen(
        [python, "-m", "app.cli", "serve", "--port", str(port)], env=env, cwd=build.tree
    )
    wait_port(port)
    build.pid = server.pid
    build.url = (
        f"http://127.0.0.1:{port}/postback?token={token}&click_id={new_click_id()[0]}"
        "&amount=49.90&status=approved"
    )
    return server


async def empty_streams(redis_base: str, count: int) -> None:
    """No worker runs: drop the queued conversions between rounds (memory)."""
    for index in range(1, count + 1):
        redis = Redis.from_url(f"{redis_base}/{10 + index}")
        try:
            stale = [k async for k in redis.scan_iter(match="conversions:{*}")]
            if stale:
                await redis.delete(*stale)
        finally:
            await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("others", nargs="+", type=Path, help="other checkouts to compare")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--duration", type=int, default=4)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    database = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432")
    database = database.rsplit("/", 1)[0] if database.count("/") > 2 else database
    redis_base = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379").rsplit("/", 1)[0]
    if redis_base == "redis:/":
        redis_base = "redis://127.0.0.1:6379"
    builds = [Build("this checkout", ROOT), *(Build(str(t), t.resolve()) for t in args.others)]
    for build in builds:
        build.name = f"{commit_of(build.tree)} ({build.name})"

    servers: list[subprocess.Popen[bytes]] = []
    port = free_port()
    servers.append(
        subprocess.Popen(
            [
                PY,
                "-m",
                "uvicorn",
                "loadtests.baseline_app:app",
                "--port",
                str(port),
                *UVICORN_FLAGS,
            ],
            cwd=ROOT,
        )
    )
    baseline_url = f"http://127.0.0.1:{port}/c/x"
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    extra = ["-s", script.name]
    try:
        wait_port(port)
        for index, build in enumerate(builds, start=1):
            servers.append(start_build(index, build, database, redis_base))
        wrk(baseline_url, 2, args.connections)
        for build in builds:
            wrk(build.url, 2, args.connections, extra)  # warm-up
        print(
            f"run at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {args.rounds} rounds of "
            f"{args.duration} s per wrk run, {args.connections} connections"
        )
        for round_ in range(args.rounds):
            order: list[Build | None] = [None, *builds]
            shift = round_ % len(order)
            order = order[shift:] + order[:shift]
            rates: dict[str, float] = {}
            for turn in order:
                if turn is None:
                    rates["baseline"] = wrk(baseline_url, args.duration, args.connections)["rps"]
                    continue
                build = turn
                before = cpu_seconds(build.pid)
                result = wrk(build.url, args.duration, args.connections, extra)
                if result["bad"]:
                    raise RuntimeError(f"{build.name}: {result['bad']} postbacks refused")
                build.cpu_us.append((cpu_seconds(build.pid) - before) / result["requests"] * 1e6)
                rates[build.name] = result["rps"]
            load = Path("/proc/loadavg").read_text().split()[0]
            line = [f"round {round_ + 1}: baseline {rates['baseline']:>6.0f}/s"]
            for build in builds:
                build.ratios.append(rates[build.name] / rates["baseline"])
                line.append(f"{build.name} {rates[build.name]:>6.0f}/s = {build.ratios[-1]:.2f}")
            print("; ".join(line) + f"; load {load}")
            asyncio.run(empty_streams(redis_base, len(builds)))
        for build in builds:
            print(
                f"{build.name:<40}: median ratio {statistics.median(build.ratios):.2f}"
                f" (min {min(build.ratios):.2f}, max {max(build.ratios):.2f}),"
                f" web CPU per postback {statistics.median(build.cpu_us):.0f} us"
            )
    finally:
        for server in servers:
            server.send_signal(signal.SIGINT)
        for server in servers:
            server.wait()
        Path(script.name).unlink()


if __name__ == "__main__":
    main()
