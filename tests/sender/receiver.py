"""A real HTTP/1.1 server on 127.0.0.1 that plays an affiliate's tracker.

Each test scripts how it answers (status, headers, body, hang, hang up) and reads back
what it received. Every response closes its connection, so requests are easy to count.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Received:
    method: str
    target: str
    headers: dict[str, str]  # names lower-cased
    body: bytes

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


@dataclass(slots=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    # Announce this Content-Length and stream zeros up to it (a huge body).
    stream_bytes: int | None = None
    hang_up: bool = False  # close the connection without answering
    trickle_s: float | None = None  # send a header byte this often, never finishing
    wait: asyncio.Event | None = None  # answer only once this is set


Handler = Callable[[Received], Reply | Awaitable[Reply]]

REASONS = {200: "OK", 302: "Found", 500: "Internal Server Error", 503: "Service Unavailable"}


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.handler: Handler = lambda _: Reply()
        self.arrived = asyncio.Condition()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def on(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def wait_for(self, predicate: Callable[[list[Received]], bool]) -> None:
        """Until what was received satisfies `predicate` (the test's timeout bounds it)."""
        async with self.arrived:
            await self.arrived.wait_for(lambda: predicate(self.received))

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._answer(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the sender hung up first, which some tests provoke
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, target, _ = request_line.split(" ", 2)
        headers = {}
        for line in lines:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        request = Received(method=method, target=target, headers=headers, body=body)
        async with self.arrived:
            self.received.append(request)
            self.arrived.notify_all()
        reply = self.handler(request)
        if not isinstance(reply, Reply):
            reply = await reply
        if reply.wait is not None:
            await reply.wait.wait()
        if reply.hang_up:
            return
        if reply.trickle_s is not None:
            writer.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            while True:
                writer.write(b"z")
                await writer.drain()
                await asyncio.sleep(reply.trickle_s)
        length = reply.stream_bytes if reply.stream_bytes is not None else len(reply.body)
        head_lines = [
            f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'Status')}",
            f"Content-Length: {length}",
            "Connection: close",
            *(f"{k}: {v}" for k, v in reply.headers.items()),
        ]
        writer.write(("\r\n".join(head_lines) + "\r\n\r\n").encode("latin-1"))
        if reply.stream_bytes is None:
            writer.write(reply.body)
            await writer.drain()
            return
        chunk = b"x" * 65536
        for _ in range(reply.stream_bytes // len(chunk)):
            writer.write(chunk)
            await writer.drain()
