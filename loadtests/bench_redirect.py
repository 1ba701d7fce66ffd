"""Redirect and click-pipeline benchmark (issue 7). Prints its figures.

    .venv/bin/python loadtests/bench_redirect.py [--duration 10] [--connections 64]

Uses the system PostgreSQL and Redis (BENCH_DATABASE_URL, default a fresh database
tracker_bench on 127.0.0.1:5432; BENCH_REDIS_URL, default redis://127.0.0.1:6379/4,
flushed), loopback only. In one run it measures with wrk:
  (n) nginx `return 302` with one worker (Debian's nginx; skipped if absent),
  (a) a raw ASGI app answering a constant 302 on uvicorn with the same flags (baseline),
  (k) the same constant 302 from `tracker serve`'s own protocol (app.edge.front, no ASGI),
  (u) the same from uvicorn's protocol's fast lane (app.edge.protocol, no ASGI),
  (b) GET /c/{code} on `tracker serve` (`--workers`, default one process) with durable
      enqueue, link cache, a click cap, the cookie and the counters on,
  (p) GET /postback (the seeded advertiser's token, a click ID, txid and amount) on the
      same server: judged, durably queued, answered `{"status":"accepted"}`,
then one worker draining the stream into PostgreSQL, the stream lag while a worker runs
under sustained redirect load, and the web process's RSS after all of it.

`--targeting` gives the link's offer a targeting every bench click fits (countries: all but
RU; devices: desktop), so each click looks up its country and device; `--user-agent` sends
that header on every request (a desktop browser's, for the device check); `--app-root`
serves the app of another tree (a worktree of an older commit), for an A/B in one run.

`--random-ips` sends each request with a random X-Forwarded-For (the web process trusts
127.0.0.1 as its proxy), `--ip-anonymize` runs the web process with IP_ANONYMIZE on: the
two together measure the truncation to /24 on the hot path, address by address.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
UVICORN_FLAGS = [
    "--loop",
    "uvloop",
    "--http",
    "httptools",
    "--no-access-log",
    "--no-proxy-headers",
    "--no-server-header",
    "--log-level",
    "warning",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"port {port} did not open")


def wrk(
    url: str, duration: int, connections: int, extra: list[str] | None = None
) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", *(extra or []), url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout

    def latency(label: str) -> float:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            return float("nan")
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50": latency("50"),
        "p99": latency("99"),
        "requests": total,
        "bad": int(errors.group(1)) if errors else 0,
    }


def click_id() -> str:
    """A click ID of this tracker's form (a UUIDv7 of now, in 26 base32hex digits), made
    here rather than imported: an A/B runs the bench against another checkout's app."""
    value = ((int(time.time() * 1000) << 80) | (0x7 << 76) | (0b10 << 62) | 12345) << 2
    digits = "0123456789abcdefghijklmnopqrstuv"
    return "".join(digits[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process and of its live children (the web
    processes of `tracker serve --workers N` are children of the one started)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return 0.0  # exited in between
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(int(child)) for child in children)


async def redis_cpu_seconds(redis_url: str) -> float:
    redis = Redis.from_url(redis_url)
    try:
        info = await redis.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
    finally:
        await redis.aclose()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def prepare(database_url: str, redis_url: str) -> None:
    admin = database_url.rsplit("/", 1)[0] + "/postgres"
    name = database_url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(admin)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    await redis.aclose()


async def seed(env: dict[str, str], *, caps: bool, targeting: bool = False) -> tuple[str, str]:
    """Give the seeded demo offer a (high) click cap, and a targeting every bench click
    fits; return a link code and the advertiser's postback token."""
    conn = await asyncpg.connect(env["DATABASE_URL"])
    if caps:
        await conn.execute(
            "INSERT INTO offer_caps (offer_id, metric, period, cap_limit)"
            " SELECT id, 'clicks', 'day', 1000000000 FROM offers"
        )
    if targeting:
        await conn.execute(
            "UPDATE offers SET targeting_countries = '{RU}', targeting_country_mode = 'block',"
            " targeting_devices = '{desktop}'"
        )
    code: str = await conn.fetchval("SELECT code FROM links ORDER BY id LIMIT 1")
    token: str = await conn.fetchval("SELECT postback_token FROM advertisers ORDER BY id LIMIT 1")
    await conn.close()
    return code, token


async def stream_lag(redis_url: str, shards: int) -> int:
    redis = Redis.from_url(redis_url)
    try:
        lag = 0
        for i in range(shards):
            for group in await redis.xinfo_groups(f"clicks:{{{i}}}"):
                lag += int(group.get("lag") or 0) + int(group["pending"])
        return lag
    finally:
        await redis.aclose()


async def stored(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM clicks"))
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--no-caps", action="store_true", help="measure without a click cap")
    parser.add_argument("--workers", type=int, default=1, help="web processes (b)")
    parser.add_argument("--ip-anonymize", action="store_true", help="IP_ANONYMIZE=true")
    parser.add_argument(
        "--redirect-only", action="store_true", help="only (a) and (b): no worker, lag or RSS"
    )
    parser.add_argument(
        "--random-ips", action="store_true", help="a random X-Forwarded-For on each request"
    )
    parser.add_argument("--targeting", action="store_true", help="a targeting clicks fit")
    parser.add_argument("--user-agent", help="the User-Agent header of every request")
    parser.add_argument("--app-root", type=Path, default=ROOT, help="the tree whose app is served")
    parser.add_argument(
        "--collector",
        action="store_true",
        help="time the web process's collector passes (loadtests/collector_probe) in each run",
    )
    parser.add_argument(
        "--rss-clicks",
        type=int,
        default=1_000_000,
        help="keep serving until this many clicks, then read RSS",
    )
    args = parser.parse_args()
    database_url = os.environ.get(
        "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/tracker_bench"
    )
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/4")
    asyncio.run(prepare(database_url, redis_url))
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "TRACKER_DATA_DIR": "/tmp/tracker-bench",
        "LOG_LEVEL": "warning",
        "IP_ANONYMIZE": "true" if args.ip_anonymize else "false",
    }
    per_request: list[str] = []
    if args.random_ips:
        env["TRUSTED_PROXIES"] = '["127.0.0.1/32"]'
        per_request = ["-s", str(ROOT / "loadtests" / "random_xff.lua")]
    if args.user_agent:
        per_request += ["-H", f"User-Agent: {args.user_agent}"]
    root = args.app_root.resolve()
    seeding = [PY, "-m", "app.cli", "seed"]
    subprocess.run(seeding, env=env, check=True, capture_output=True, cwd=root)
    code, token = asyncio.run(seed(env, caps=not args.no_caps, targeting=args.targeting))

    nginx = measure_nginx(args.duration, args.connections)
    baseline, base_share = measure_constant([], args.duration, args.connections)
    constant, _ = measure_constant(
        ["--http", "loadtests.baseline_app:FrontConstantProtocol"], args.duration, args.connections
    )
    lane, _ = measure_constant(
        ["--http", "loadtests.baseline_app:ConstantProtocol"], args.duration, args.connections
    )

    port = free_port()
    serve = [PY, "-m", "app.cli", "serve", "--port", str(port), "--workers", str(args.workers)]
    web_env = dict(env)
    collector_log = Path(tempfile.mkdtemp(prefix="tracker-collector-")) / "passes"
    if args.collector:
        probe = str(ROOT / "loadtests" / "collector_probe")
        web_env["PYTHONPATH"] = os.pathsep.join(filter(None, [probe, env.get("PYTHONPATH")]))
        web_env["TRACKER_COLLECTOR_LOG"] = str(collector_log)
    web = subprocess.Popen(serve, env=web_env, cwd=root)
    try:
        wait_port(port)
        url = f"http://127.0.0.1:{port}/c/{code}?sub1=bench&sub2=%C3%BC"
        wrk(url, 2, args.connections, per_request)  # warm-up
        web_cpu, redis_cpu = cpu_seconds(web.pid), asyncio.run(redis_cpu_seconds(redis_url))
        started_at = time.time()
        real = wrk(url, args.duration, args.connections, per_request)
        windows = {"/c/": (started_at, time.time())}
        web_share = (cpu_seconds(web.pid) - web_cpu) / args.duration
        redis_share = (asyncio.run(redis_cpu_seconds(redis_url)) - redis_cpu) / args.duration
        served = real["requests"]
        postback_url = (
            f"http://127.0.0.1:{port}/postback?token={token}"
            f"&click_id={click_id()}&txid=bench&amount=10.00"
        )
        wrk(postback_url, 2, args.connections)  # warm-up
        postback_cpu = cpu_seconds(web.pid)
        started_at = time.time()
        postbacks = wrk(postback_url, args.duration, args.connections)
        windows["/postback"] = (started_at, time.time())
        postback_cpu = cpu_seconds(web.pid) - postback_cpu
        if args.redirect_only:
            web.send_signal(signal.SIGINT)
            web.wait()
            print_baselines(nginx, baseline, constant, lane)
            print_redirect(baseline, real, base_share, web_share, redis_share, env, args)
            print_postbacks(baseline, real, postbacks, postback_cpu)
            if args.collector:
                print_collector(collector_log, windows)
            return

        started = time.perf_counter()
        subprocess.run([PY, "-m", "app.cli", "worker", "--burst"], env=env, check=True, cwd=root)
        drained = time.perf_counter() - started
        in_db = asyncio.run(stored(database_url))

        worker = subprocess.Popen([PY, "-m", "app.cli", "worker"], env=env, cwd=root)
        lags: list[int] = []
        load = subprocess.Popen(
            ["wrk", "-t2", f"-c{args.connections}", f"-d{args.duration * 2}s", *per_request, url],
            stdout=subprocess.DEVNULL,
        )
        while load.poll() is None:
            time.sleep(1)
            lags.append(asyncio.run(stream_lag(redis_url, int(env.get("STREAM_SHARDS", "2")))))
        worker.send_signal(signal.SIGTERM)
        worker.wait()

        total_served: float = asyncio.run(stored(database_url))
        while total_served < args.rss_clicks:
            result = wrk(url, 20, args.connections, per_request)
            total_served += result["requests"]
        rss = rss_mb(web.pid)
    finally:
        web.send_signal(signal.SIGINT)
        web.wait()

    print_baselines(nginx, baseline, constant, lane)
    print_redirect(baseline, real, base_share, web_share, redis_share, env, args)
    print_postbacks(baseline, real, postbacks, postback_cpu)
    print(
        f"worker drain              : {in_db} clicks in {drained:.1f} s (process start "
        f"included) = {in_db / drained:.0f} clicks/s; served {served}"
    )
    print(f"lag under load (1 worker) : {lags}")
    print(f"web RSS after {total_served} clicks: {rss:.0f} MB")


def measure_constant(
    flags: list[str], duration: int, connections: int
) -> tuple[dict[str, float], float]:
    """wrk against the constant-302 app on uvicorn (with extra `flags`), and the share of
    a core its process used."""
    port = free_port()
    command = [PY, "-m", "uvicorn", "loadtests.baseline_app:app", "--port", str(port)]
    base = subprocess.Popen([*command, *UVICORN_FLAGS, *flags], cwd=ROOT)
    try:
        wait_port(port)
        wrk(f"http://127.0.0.1:{port}/c/x", 2, connections)  # warm-up
        before = cpu_seconds(base.pid)
        result = wrk(f"http://127.0.0.1:{port}/c/x", duration, connections)
        return result, (cpu_seconds(base.pid) - before) / duration
    finally:
        base.send_signal(signal.SIGINT)
        base.wait()


NGINX_CONF = """daemon off; worker_processes 1; pid {dir}/nginx.pid; error_log {dir}/error.log;
events {{ worker_connections 1024; }}
http {{ access_log off; server {{ listen 127.0.0.1:{port};
  location / {{ return 302 https://shop.example/landing; }} }} }}
"""


def measure_nginx(duration: int, connections: int) -> dict[str, float] | None:
    """wrk against nginx's `return 302` with one worker, or None without nginx."""
    binary = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if binary is None:
        return None
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        conf = Path(folder) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=folder, port=port))
        server = subprocess.Popen([binary, "-c", str(conf), "-p", folder])
        try:
            wait_port(port)
            wrk(f"http://127.0.0.1:{port}/c/x", 2, connections)  # warm-up
            return wrk(f"http://127.0.0.1:{port}/c/x", duration, connections)
        finally:
            server.send_signal(signal.SIGQUIT)
            server.wait()


def print_baselines(
    nginx: dict[str, float] | None,
    baseline: dict[str, float],
    constant: dict[str, float],
    lane: dict[str, float],
) -> None:
    if nginx is not None:
        print(
            f"nginx return 302 (1 wkr) : {nginx['rps']:>9.0f} req/s  p99 {nginx['p99']:.2f} ms"
            f"  = {nginx['rps'] / baseline['rps']:.2f} x baseline"
        )
    print(
        f"front constant 302        : {constant['rps']:>9.0f} req/s  p99 {constant['p99']:.2f} ms"
        f"  = {constant['rps'] / baseline['rps']:.2f} x baseline"
    )
    print(
        f"uvicorn-lane constant 302 : {lane['rps']:>9.0f} req/s  p99 {lane['p99']:.2f} ms"
        f"  = {lane['rps'] / baseline['rps']:.2f} x baseline"
    )


def print_redirect(
    baseline: dict[str, float],
    real: dict[str, float],
    base_share: float,
    web_share: float,
    redis_share: float,
    env: dict[str, str],
    args: argparse.Namespace,
) -> None:
    ratio = real["rps"] / baseline["rps"]
    print(
        f"baseline raw ASGI 302     : {baseline['rps']:>9.0f} req/s  p50 {baseline['p50']:.2f} ms"
        f"  p99 {baseline['p99']:.2f} ms"
    )
    print(
        f"GET /c/{{code}} + enqueue  : {real['rps']:>9.0f} req/s  p50 {real['p50']:.2f} ms"
        f"  p99 {real['p99']:.2f} ms  non-3xx {real['bad']}"
    )
    print(f"ratio redirect / baseline : {ratio:.2f}")
    print(f"IP_ANONYMIZE {env['IP_ANONYMIZE']}, random X-Forwarded-For {args.random_ips}")
    print(f"app {args.app_root}, targeting {args.targeting}, User-Agent {args.user_agent}")
    print(
        f"CPU: baseline process {base_share:.0%} of a core; during the redirect run the web "
        f"process {web_share:.0%}, Redis {redis_share:.0%}"
    )
    # Less sensitive than req/s to how much of a core a busy machine leaves the process.
    per_request = web_share * args.duration / max(real["requests"], 1) * 1e6
    print(f"web process CPU per request: {per_request:.1f} us")


def print_collector(log: Path, windows: dict[str, tuple[float, float]]) -> None:
    """The web process's collector passes during each wrk run (app.edge.collector)."""
    passes: list[tuple[float, int, float]] = []
    for path in log.parent.glob(f"{log.name}.*"):
        passes += json.loads(path.read_text())
    for label, (start, end) in windows.items():
        inside = [(generation, s) for at, generation, s in passes if start <= at <= end]
        counts = "/".join(str(sum(1 for g, _ in inside if g == k)) for k in range(3))
        longest = max((s for _, s in inside), default=0.0)
        print(
            f"collector during {label:<9}: passes gen0/1/2 {counts}, paused "
            f"{sum(s for _, s in inside) * 1e3:.1f} ms in all, longest {longest * 1e3:.2f} ms"
        )


def print_postbacks(
    baseline: dict[str, float], real: dict[str, float], postbacks: dict[str, float], cpu: float
) -> None:
    print(
        f"GET /postback + enqueue   : {postbacks['rps']:>9.0f} req/s  p50 {postbacks['p50']:.2f} ms"
        f"  p99 {postbacks['p99']:.2f} ms  non-2xx/3xx {postbacks['bad']}"
    )
    print(
        f"ratio postback / redirect : {postbacks['rps'] / real['rps']:.2f}"
        f"  (/ baseline {postbacks['rps'] / baseline['rps']:.2f});"
        f" web CPU per postback {cpu / max(postbacks['requests'], 1) * 1e6:.1f} us"
    )


if __name__ == "__main__":
    main()
