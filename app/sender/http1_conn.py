"""One connection of the sender's HTTP/1.1 client (app/sender/http1.py), as an asyncio
protocol: requests are written as they come (those made in one turn of the event loop go
out in one write) and may be pipelined, responses are parsed as they arrive by one llhttp
parser for the connection and handed to their requests in order.

A connection ends at the first thing that breaks its framing or its keep-alive (a
`Connection: close`, HTTP/1.0, a body longer than the snippet with no request behind it,
bytes no request asked for, a HEAD). When the receiver ended it (it said so, or closed),
the requests still waiting on it fail as unanswered, and the client sends each once more
on a new connection. When the client gives a connection up itself (a read timeout, a
response that is not HTTP/1, a body over DRAIN_BYTES), the requests it wrote behind the
broken one may have reached the receiver: they fail as answered, so that they are tried
again on the delivery's own schedule rather than at once, a second time.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import cast

import httptools

# A response's head, with its interim heads, chunk framing and trailers: at most this.
MAX_HEAD_BYTES = 64 * 1024
# A body longer than the snippet, with requests behind it on the connection, is read to
# its end (and dropped) up to this, so that they get their own responses.
DRAIN_BYTES = 1024 * 1024
GIVEN_UP = "Connection given up behind a broken response; not sent again at once."

# The error classes are named as httpx's, whose names the delivery log has shown.


class HTTPError(Exception):
    pass


class ReadTimeout(HTTPError):
    pass


class RemoteProtocolError(HTTPError):
    def __init__(self, message: str, *, unanswered: bool = False) -> None:
        super().__init__(message)
        # Not a byte came back: the request may be sent again on a new connection.
        self.unanswered = unanswered


@dataclass(frozen=True, slots=True)
class Response:
    status_code: int
    headers: dict[str, str]  # names lower-cased
    snippet: bytes  # the body's first bytes (chunked framing removed)


class _Stop(Exception):
    """Stops llhttp: the connection ends here (`orderly`: after a response, as the
    receiver or the client chose; otherwise the response was not HTTP/1)."""

    def __init__(self, detail: str = "", *, orderly: bool = True) -> None:
        super().__init__(detail)
        self.orderly = orderly


@dataclass(slots=True)
class _Exchange:
    """A request written, waiting for its response (read as it comes)."""

    future: asyncio.Future[Response]
    head_only: bool
    snippet_bytes: int
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    body_bytes: int = 0
    head_done: bool = False
    framed: bool = False
    keep: bool = False
    answered: bool = False  # a byte of its response came
    sent: bool = False  # written to the transport (the receiver may have it)

    def resolve(self) -> None:
        if not self.future.done():  # its waiter may have given up (a deadline)
            self.future.set_result(Response(self.status, self.headers, bytes(self.body)))

    def fail(self, exc: Exception) -> None:
        if not self.future.done():
            self.future.set_exception(exc)


class Connection(asyncio.Protocol):
    """Requests in flight on one connection, answered in order."""

    def __init__(self, read_timeout_s: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._read_timeout_s = read_timeout_s
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiting: deque[_Exchange] = deque()
        self._out: list[bytes] = []
        self._head_bytes = 0  # of the response being read
        self._last_read = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self.answered = 0  # responses read to their end on it, kept alive
        self.closed = False
        self.last = False  # takes no more requests (closes once the ones in flight end)
        # Lost with more than one request in flight, not after saying so: the receiver
        # may not take pipelined requests.
        self.broke_pipeline = False
        # Given up by the client, not by the receiver: the requests written behind the one
        # being read may have been taken.
        self._abandoned = False

    def in_flight(self) -> int:
        return len(self._waiting)

    def takes(self, depth: int) -> bool:
        """Whether a request may go now with at most `depth` in flight."""
        return not (self.closed or self.last) and len(self._waiting) < depth

    def exchange(
        self, data: bytes, head_only: bool, snippet_bytes: int
    ) -> asyncio.Future[Response]:
        """Send a request (written at the end of this turn of the loop, with the others
        made meanwhile); its response, when it has come."""
        exchange = _Exchange(self._loop.create_future(), head_only, snippet_bytes)
        if self.closed:
            exchange.fail(RemoteProtocolError("Connection closed.", unanswered=True))
            return exchange.future
        if not self._waiting:
            self._last_read = self._loop.time()
            if self._timer is None:
                self._timer = self._loop.call_later(self._read_timeout_s, self._check)
        self._waiting.append(exchange)
        if head_only:
            self.last = True  # llhttp is stopped after a HEAD's head: nothing follows it
        if not self._out:
            self._loop.call_soon(self._flush)
        self._out.append(data)
        return exchange.future

    def retire(self) -> None:
        """Close once the requests in flight are answered (now, if none are)."""
        self.last = True
        if not self._waiting:
            self.close()

    def close(self) -> None:
        self.last = True
        self._end(None)

    # --- asyncio.Protocol ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's is not a subclass of asyncio's).
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self._last_read = self._loop.time()
        if not self._waiting:
            self.close()  # bytes no request asked for: the framing cannot be trusted
            return
        self._waiting[0].answered = True
        self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # After a 101 (answered): the connection is not HTTP any more.
            self._abandoned = True
            self.close()
            return
        except httptools.HttpParserError as exc:
            stop = exc.__context__
            if not (isinstance(stop, _Stop) and stop.orderly):
                # Garbage, or not HTTP/1: this response's error; the connection goes.
                detail = stop if isinstance(stop, _Stop) else exc
                self._fail_first(RemoteProtocolError(f"not an HTTP/1 response: {detail}"))
                return
            # After a HEAD's head, a body over the snippet (or DRAIN_BYTES), unasked bytes.
            self.close()
            return
        if self._waiting and not self._waiting[0].head_done and self._head_bytes > MAX_HEAD_BYTES:
            self._fail_first(RemoteProtocolError("response head too long"))

    def eof_received(self) -> bool | None:
        return None  # the transport closes; connection_lost settles the requests

    def connection_lost(self, exc: Exception | None) -> None:
        self._end(exc)

    # --- llhttp's callbacks -----------------------------------------------------------

    def on_message_begin(self) -> None:
        if not self._waiting:
            raise _Stop  # bytes after every response asked for
        self._waiting[0].headers = {}  # an interim response's are dropped

    def on_header(self, name: bytes, value: bytes) -> None:
        exchange = self._waiting[0]
        if exchange.head_done:
            return  # a trailer
        key, text = name.decode("latin-1").lower(), value.decode("latin-1").strip()
        headers = exchange.headers
        headers[key] = f"{headers[key]}, {text}" if key in headers else text

    def on_headers_complete(self) -> None:
        exchange, parser = self._waiting[0], self._parser
        status = parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            return  # an interim response: the final one follows
        version = parser.get_http_version()
        if not version.startswith("1."):
            raise _Stop(f"HTTP/{version}", orderly=False)
        exchange.status, exchange.head_done = status, True
        exchange.keep = version == "1.1" and parser.should_keep_alive()
        transfer_encoding = exchange.headers.get("transfer-encoding", "").lower()
        exchange.framed = "content-length" in exchange.headers or "chunked" in transfer_encoding
        if exchange.head_only:
            self._waiting.popleft().resolve()
            raise _Stop  # llhttp would wait for the body announced

    def on_body(self, data: bytes) -> None:
        exchange = self._waiting[0]
        exchange.body_bytes += len(data)
        self._head_bytes -= len(data)
        exchange.body += data[: exchange.snippet_bytes - len(exchange.body)]
        if exchange.body_bytes <= exchange.snippet_bytes:
            return
        exchange.resolve()  # its snippet is all it wants: its try does not wait for the rest
        self.last = True  # no new request behind a body being dropped
        if len(self._waiting) == 1:
            self._waiting.popleft()  # nothing behind it: the connection goes
            raise _Stop
        if exchange.body_bytes > DRAIN_BYTES:
            self._abandoned = True
            self.broke_pipeline = True
            raise _Stop

    def on_message_complete(self) -> None:
        exchange = self._waiting[0]
        if not exchange.head_done:
            return  # an interim response
        self._waiting.popleft().resolve()
        self._head_bytes = 0
        if not exchange.keep:
            self.close()
            return
        self.answered += 1
        if self.last and not self._waiting:
            self.close()

    # --- inside -----------------------------------------------------------------------

    def _flush(self) -> None:
        if self._out and not self.closed and self._transport is not None:
            self._transport.write(b"".join(self._out))
            for exchange in self._waiting:
                exchange.sent = True
        self._out.clear()

    def _check(self) -> None:
        """The read timeout: nothing read for read_timeout_s while requests wait."""
        self._timer = None
        if self.closed or not self._waiting:
            return
        quiet = self._loop.time() - self._last_read
        if quiet < self._read_timeout_s:
            self._timer = self._loop.call_later(self._read_timeout_s - quiet, self._check)
            return
        self._fail_first(ReadTimeout(f"nothing read for {self._read_timeout_s:g} s"))

    def _fail_first(self, exc: Exception) -> None:
        """The response being read is broken: its request fails, the connection goes."""
        self.broke_pipeline = len(self._waiting) > 1
        self._abandoned = True
        self._waiting.popleft().fail(exc)
        self.close()

    def _end(self, exc: Exception | None) -> None:
        """Closed: the first request waiting gets what came of its response, the others
        fail as unanswered (the client sends them again), unless the client gave the
        connection up after writing them."""
        if self.closed:
            return
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._transport is not None:
            self._transport.abort()
        if not self._waiting:
            return
        first = self._waiting.popleft()
        if self._waiting and not self.last:
            self.broke_pipeline = True  # lost with requests in flight, unannounced
        if first.head_done and not first.framed:
            first.resolve()  # the body ends with the connection
        elif first.head_done:
            first.fail(RemoteProtocolError("Server disconnected before the end of the body."))
        elif self._abandoned and first.sent:
            first.fail(RemoteProtocolError(GIVEN_UP))
        else:
            detail = f": {exc}" if exc is not None else ""
            first.fail(
                RemoteProtocolError(
                    f"Server disconnected without sending a response{detail or '.'}",
                    unanswered=not first.answered,
                )
            )
        while self._waiting:
            behind = self._waiting.popleft()
            if self._abandoned and behind.sent:
                behind.fail(RemoteProtocolError(GIVEN_UP))
            else:
                behind.fail(
                    RemoteProtocolError("Server disconnected before answering.", unanswered=True)
                )
