"""uvicorn's HTTP/1.1 protocol with a fast lane for tracking links.

uvicorn parses every request (httptools, the parser it ships) and keeps its connection
rules: keep-alive, pipelining in order, size limits, timeouts, `Connection: close`. For
everything but a click on a link the link cache holds, it runs the ASGI app in a task
as always. A click instead is answered without a task or a coroutine: the handler runs
synchronously up to the enqueue (`Redirector.start`), and the group commit's future, once
Redis confirms the batch, writes the 302 straight to the transport from its callback.
A task per request and uvicorn's ASGI response path were most of the web process's time
(loadtests/RESULTS.md); one batch now finishes all of its clicks in one pass.

Only the response is written here, in the same bytes uvicorn writes for the ASGI path:
its status line, its default headers (`date`), the reply's headers and, when the
connection will not be kept, `connection: close`.

Besides, the protocol holds what uvicorn leaves open to a hostile client (the hostile
HTTP suite in tests/edge): a request head over MAX_HEAD_BYTES gets 431, a request not
read whole within READ_TIMEOUT_S (a client that connects and sends nothing, or trickles
its headers or body) 408, both with the connection closed; a client that half-closes
after its request still gets its answers; and an error found in bytes that follow a
request still waiting for its answer is told after that answer, never before it.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from app.redirect.handler import PREFIX, Click, Redirector, Reply
from app.streams.batching import CommitFailed
from app.streams.producer import Unconfirmed

# A request line and headers together: nginx's default is 4 buffers of 8 KiB; seven
# sub-IDs of 1,024 percent-encoded characters each need ~64 KiB.
MAX_HEAD_BYTES = 64 * 1024
READ_TIMEOUT_S = 10.0


class HeadTooLarge(Exception):
    """Raised from a parser callback; httptools turns it into HttpParserCallbackError."""


class EdgeProtocol(HttpToolsProtocol):
    """`tracker serve`'s HTTP protocol (uvicorn's `http=`)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_bytes = 0
        self._too_large = False
        self._refusal: bytes | None = None
        self._eof = False
        self._read_timer: asyncio.TimerHandle | None = None
        self._arm_read_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_read_timer()
        super().connection_lost(exc)

    def eof_received(self) -> bool | None:  # type: ignore[override]
        # Half-closed: keep the transport to write what is still owed, then close.
        self._eof = True
        return True if self._owing() else None

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None:
            return  # the connection ends after the answers owed: nothing more is read
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._arm_read_timer()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_message_complete(self) -> None:
        self._cancel_read_timer()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        if self.pipeline or (self._refusal is None and not self._eof):
            super().on_response_complete()
            return
        self.server_state.total_requests += 1
        if self._refusal is not None:
            self.transport.write(self._refusal)
        self.transport.close()

    def send_400_response(self, msg: str) -> None:
        if self._too_large:
            self._refuse(431, "Request header fields too large.")
        else:
            self._refuse(400, msg)

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            self._too_large = True
            raise HeadTooLarge

    def _owing(self) -> bool:
        return bool(self.pipeline) or (self.cycle is not None and not self.cycle.response_complete)

    def _refuse(self, status: int, message: str) -> None:
        """Answer `status` and close, once the answers owed on this connection are out."""
        self._cancel_read_timer()
        self._refusal = refusal(status, message, self.server_state.default_headers)
        if self._owing():
            self.flow.pause_reading()
            return
        self.transport.write(self._refusal)
        self.transport.close()

    def _arm_read_timer(self) -> None:
        if self._read_timer is None:
            self._read_timer = self.loop.call_later(READ_TIMEOUT_S, self._read_timed_out)

    def _cancel_read_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if self.cycle is not None and not self.cycle.response_complete and self.cycle.more_body:
            # The app is waiting for the body that never comes: it hears a disconnect.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
            self.cycle = None  # type: ignore[assignment]
        self._refuse(408, "Request timeout.")

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        scope = cycle.scope
        redirector: Redirector | None = getattr(app, "redirector", None)
        if (
            redirector is not None
            and scope["method"] in ("GET", "HEAD")
            and scope["path"].startswith(PREFIX)
        ):
            started = redirector.start(scope)  # type: ignore[arg-type]
            if started is not None:
                click, future = started
                future.add_done_callback(partial(self._clicked, cycle, redirector, click))
                return
        super()._start_asgi_task(cycle, app)

    def _clicked(
        self,
        cycle: RequestResponseCycle,
        redirector: Redirector,
        click: Click,
        future: asyncio.Future[bool],
    ) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if error is None:
            write(cycle, click.reply(future.result()))
        elif isinstance(error, CommitFailed | Unconfirmed):
            # Redis (or its replicas) did not confirm the batch in time: the spool's
            # fsync, then the reply.
            task = self.loop.create_task(self._spooled(cycle, redirector, click, error))
            task.add_done_callback(self.tasks.discard)
            self.tasks.add(task)
        else:
            self.logger.error("click not queued", exc_info=error)
            write(cycle, ERROR)

    async def _spooled(
        self,
        cycle: RequestResponseCycle,
        redirector: Redirector,
        click: Click,
        failure: CommitFailed | Unconfirmed,
    ) -> None:
        write(cycle, await redirector.spooled(click, failure))


ERROR = Reply(
    500,
    [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"21")],
    b"Internal Server Error",
)


def write(cycle: RequestResponseCycle, reply: Reply) -> None:
    """Write a whole response on the cycle's connection and finish the cycle, as
    `RequestResponseCycle.send` does for an ASGI app's two messages."""
    if cycle.disconnected or cycle.response_complete:
        return
    cycle.response_started = True
    head = cycle.scope["method"] == "HEAD"
    cycle.transport.write(render(reply, cycle.default_headers, cycle.keep_alive, head))
    cycle.response_complete = True
    cycle.message_event.set()
    if not cycle.keep_alive:
        cycle.transport.close()
    cycle.on_response()


def render(
    reply: Reply, default_headers: list[tuple[bytes, bytes]], keep_alive: bool, head: bool
) -> bytes:
    """A whole response in the bytes uvicorn writes for it: its status line, its default
    headers (`date`), the reply's, `connection: close` when the connection ends after it,
    and the body unless the request was a HEAD."""
    content = [STATUS_LINE[reply.status]]
    for name, value in default_headers:
        content += (name, b": ", value, b"\r\n")
    for name, value in reply.headers:
        content += (name, b": ", value, b"\r\n")
    if not keep_alive:
        content.append(b"connection: close\r\n")
    content.append(b"\r\n")
    if not head:
        content.append(reply.body)
    return b"".join(content)


def refusal(status: int, message: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """An error answered on a connection that closes after it (a plain-text `message`)."""
    body = message.encode("ascii")
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"%d" % len(body)),
    ]
    return render(Reply(status, headers, body), default_headers, False, False)
