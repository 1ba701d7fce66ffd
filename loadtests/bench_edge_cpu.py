"""The edge's own CPU per request, in process: `tracker serve`'s protocol (app.edge.front)
fed a click's and a postback's bytes on a fake transport, with the group commit answered
at once (no Redis round trip, no socket): what a request costs our Python, less noisy on
a shared machine than wrk's throughput. Also the parts (query parse, record, 302 bytes,
judging) one by one, and the group commit's RESP frame per item.

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/tracker_bench_edge21 \
    BENCH_REDIS_URL=redis://127.0.0.1:6379/14 \
    .venv/bin/python loadtests/bench_edge_cpu.py [--app-root /work/main]

The database must hold `tracker seed`'s catalog (bench_redirect.py leaves it so); the
app's lifespan loads the caches from it. Prints µs per call, best of 5 rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, cast

ROUNDS = 5  # --rounds


def best(label: str, call: Callable[[], object], n: int) -> float:
    times = []
    for _ in range(ROUNDS):
        started = time.thread_time()
        for _ in range(n):
            call()
        times.append((time.thread_time() - started) / n * 1e6)
    value = min(times)
    print(f"{label:<44}: {value:7.2f} us  (median {sorted(times)[ROUNDS // 2]:.2f})")
    return value


class Transport:
    """Enough of asyncio's transport for FrontProtocol."""

    def __init__(self) -> None:
        self.written = 0
        self.last = b""

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 50000) if name == "peername" else default

    def write(self, data: bytes) -> None:
        self.written += 1
        self.last = data

    def close(self) -> None: ...

    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...


async def run(n: int, profile: str | None) -> None:
    import asyncpg
    import uvicorn
    from asgi_lifespan import LifespanManager
    from uvicorn.server import ServerState

    from app.edge.front import FrontProtocol
    from app.main import create_app
    from app.postbacks import params, service
    from app.redirect.handler import parse_sub_ids
    from app.settings import Settings

    database_url = os.environ["BENCH_DATABASE_URL"]
    conn = await asyncpg.connect(database_url)
    code = await conn.fetchval("SELECT code FROM links ORDER BY id LIMIT 1")
    token = await conn.fetchval("SELECT postback_token FROM advertisers ORDER BY id LIMIT 1")
    await conn.close()
    settings = Settings(
        database_url=database_url,
        redis_url=os.environ["BENCH_REDIS_URL"],
        tracker_data_dir=Path("/tmp/tracker-bench-cpu"),
    )
    app = create_app(settings)
    async with LifespanManager(app):
        await app.reload_links()
        config = uvicorn.Config(
            app, http=FrontProtocol, lifespan="off", log_level="warning", proxy_headers=False
        )
        state = ServerState()
        state.default_headers = [(b"date", b"Fri, 04 Dec 2026 03:00:00 GMT")]
        loop = asyncio.get_running_loop()
        pending: list[Callable[[bool | Exception], object]] = []

        def submit_then(record: bytes, then: Any, **_: Any) -> None:
            pending.append(then)

        app.redirector.queue.submit_then = submit_then  # type: ignore[method-assign]
        app.intake.queue.submit_then = submit_then  # type: ignore[method-assign]
        proto = FrontProtocol(config, state, {}, loop)
        transport = Transport()
        proto.connection_made(transport)  # type: ignore[arg-type]
        from app.clickid import new_click_id

        click_id = new_click_id()[0]
        click = (
            f"GET /c/{code}?sub1=bench&sub2=%C3%BC HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n"
        ).encode()
        postback = (
            f"GET /postback?token={token}&click_id={click_id}&txid=bench&amount=10.00 HTTP/1.1"
            "\r\nHost: 127.0.0.1:8000\r\n\r\n"
        ).encode()

        def request(data: bytes) -> Callable[[], None]:
            def one() -> None:
                proto.requests = 0  # never at the keep-alive limit
                proto.data_received(data)
                pending.pop()(True)

            return one

        request(click)()
        print(transport.last.decode())
        request(postback)()
        print(transport.last.decode())
        gc.collect()
        if profile:
            request_of = {"click": click, "postback": postback}[profile]
            loop_for = request(request_of)
            print(f"profiling {profile}: {n} requests")
            for _ in range(n):
                loop_for()
            return
        import app as package

        print(f"app {Path(package.__file__).parent}; load average {os.getloadavg()[0]:.2f}")
        print(f"best of {ROUNDS} x {n}, the thread's CPU time")
        best("front: GET /c/ (whole request, no I/O)", request(click), n)
        best("front: GET /postback (whole request, no I/O)", request(postback), n)
        query = b"sub1=bench&sub2=%C3%BC"
        best("parse_sub_ids", lambda: parse_sub_ids(query), n)
        target = app.redirector.cache.get(code)
        assert target is not None
        headers = {b"user-agent": b"wrk"}
        make = app.redirector._make
        best("Redirector._make", lambda: make(target, query, headers, "127.0.0.1", False, False), n)
        made = make(target, query, headers, "127.0.0.1", False, False)
        best("Click.location", lambda: made.location(True), n)
        pquery = postback.split(b" ")[1].split(b"?", 1)[1]
        best("params.from_query", lambda: params.from_query(pquery), n)
        sources = service.query_sources(pquery)
        raw = sources.from_query
        best("sources.token", lambda: sources.token, n)
        best("parse_conversion", lambda: params.parse_conversion(raw), n)
        intake = app.intake
        best(
            "service.judge",
            lambda: service.judge(
                intake, sources, peer="127.0.0.1", forwarded_for=None, signature=None
            ),
            n,
        )
        from app.streams.producer import Item, StreamProducer

        class Connection:
            """The flusher's connection, answering at once: what its frame costs."""

            async def run(self, keys: list[bytes], args: list[bytes]) -> list[int]:
                script_connection.command(b"EVALSHA", b"x" * 40, b"%d" % len(keys), *keys, *args)
                return answers

            async def run_encoded(self, keys: list[bytes], count: int, args: bytes) -> list[int]:
                head = [b"EVALSHA", b"x" * 40, b"%d" % len(keys), *keys]
                b"*%d\r\n" % (3 + len(keys) + count) + script_connection.bulks(head) + args
                return answers

        from app.streams import script_connection

        _, admission = app.redirector._admission_of(made)
        items: list[Item] = [(made.record, admission)] * 64
        answers = [1] * 64
        flush = StreamProducer._flusher(["k", "m"], Connection())  # type: ignore[arg-type]

        def frame() -> None:
            coroutine = cast(Coroutine[Any, Any, object], flush(items))
            try:
                coroutine.send(None)
            except StopIteration:
                return
            raise AssertionError("the flush awaited")

        per_batch = best("group commit: flush of 64 clicks (no I/O)", frame, max(n // 64, 100))
        print(f"{'  per click':<44}: {per_batch / 64:7.2f} us")


def main() -> None:
    global ROUNDS
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="the best of how many")
    parser.add_argument(
        "--profile", choices=("click", "postback"), help="only n of these (for py-spy)"
    )
    parser.add_argument("--app-root", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args()
    ROUNDS = args.rounds
    sys.path.insert(0, str(args.app_root.resolve()))
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(run(args.n, args.profile))


if __name__ == "__main__":
    main()
