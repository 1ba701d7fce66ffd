"""A lean HTTP/1.1 client for the sender's tries, with keep-alive connections per receiver.

httpx spent most of the sender's CPU (its pool scans every connection on each request, and
headers and body go out in separate writes); here requests are written as they come, those
of one turn of the event loop in one write, and may be pipelined to a fast receiver
(app/sender/http1_conn.py: a connection as an asyncio protocol, responses parsed by one
llhttp parser per connection, httptools). It does what a try needs and no
more: no redirects, no cookies, no decoding of the body (the sender keeps a snippet of it,
raw), no HTTP/2.

A connection goes to the address the SSRF guard checked (the pool's key holds it), and is
kept only after a response read to its end (a body longer than the snippet is not: the
connection goes, rather than the try waiting for the rest). The error classes are named as
httpx's, whose names the delivery log has shown.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

import certifi

from app.sender.http1_conn import (
    MAX_HEAD_BYTES,
    Connection,
    HTTPError,
    ReadTimeout,
    RemoteProtocolError,
    Response,
)

__all__ = ["MAX_HEAD_BYTES", "HTTPError", "ReadTimeout", "RemoteProtocolError", "Response"]

# Requests in flight at once on one pipelined connection, at most.
PIPELINE_DEPTH = 16
# Kept in the target as they are (RFC 3986 reserved characters, and percent escapes).
_SAFE = "/?#[]@!$&'()*+,;=:%~"


class InvalidURL(HTTPError):
    pass


class ConnectError(HTTPError):
    pass


class ConnectTimeout(HTTPError):
    pass


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a connection goes: the checked address, and the TLS name (None: plain)."""

    address: str
    port: int
    tls_name: str | None


def request_target(path: str, query: str) -> str:
    """The request target as sent (and signed): non-ASCII and spaces percent-encoded."""
    target = quote(path or "/", safe=_SAFE)
    return f"{target}?{quote(query, safe=_SAFE)}" if query else target


def request_head(
    method: str, target: str, host: str, headers: Mapping[str, str], body_length: int | None
) -> bytes:
    """The request line and headers, refusing what would break the framing."""
    if body_length is not None:
        headers = {**headers, "Content-Length": str(body_length)}
    return head_lines(method, target, host, headers) + b"\r\n"


def head_lines(method: str, target: str, host: str, headers: Mapping[str, str]) -> bytes:
    """The request line, Host and `headers`, each line ending in CRLF (more headers may
    follow, then the blank line), refusing what would break the framing."""
    if " " in host or " " in target:
        raise InvalidURL("spaces in the request target or host")
    return header_lines({"": f"{method} {target} HTTP/1.1", "Host": host, **headers})


def header_lines(headers: Mapping[str, str]) -> bytes:
    """Header lines, each ending in CRLF (the name "" stands for the request line),
    refusing control characters and non-ASCII text."""
    lines = [f"{name}: {value}" if name else value for name, value in headers.items()]
    if any(c in line for line in lines for c in "\r\n\0"):
        raise InvalidURL("control characters in the request")
    return "".join(line + "\r\n" for line in lines).encode("ascii", "strict")


def basic_auth(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


class Client:
    """Keep-alive connections per origin (at most `keep` each, for the `max_origins` used
    last); the caller bounds how many requests run at once.

    A request goes on a connection with none in flight, or, when the caller allows it
    (`pipelined`: a fast receiver), behind others on a connection that has already
    answered one (up to PIPELINE_DEPTH in flight): the requests of one turn of the event
    loop then go out in one write and their responses come in few reads. A receiver that
    dropped a pipelined connection with requests in flight gets no more pipelining."""

    def __init__(
        self, *, connect_timeout_s: float, read_timeout_s: float, keep: int, max_origins: int
    ) -> None:
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self._keep = keep
        self._max_origins = max_origins
        self._open: OrderedDict[Origin, list[Connection]] = OrderedDict()
        self._serial: OrderedDict[Origin, None] = OrderedDict()  # pipelining broke there
        self._tls: ssl.SSLContext | None = None

    async def aclose(self) -> None:
        for connections in self._open.values():
            for connection in connections:
                connection.close()
        self._open.clear()

    async def request(
        self,
        origin: Origin,
        method: str,
        head: bytes,
        body: bytes,
        *,
        snippet_bytes: int,
        pipelined: bool = False,
    ) -> Response:
        head_only = method == "HEAD"
        depth = PIPELINE_DEPTH if pipelined and origin not in self._serial else 1
        connection = self._connection(origin, 1 if head_only else depth)
        if connection is not None:
            try:
                return await connection.exchange(head + body, head_only, snippet_bytes)
            except RemoteProtocolError as exc:
                # Nothing came back for it (the receiver closed the connection before
                # this request reached it, or dropped a pipeline): once more, alone, on a
                # new connection.
                if connection.broke_pipeline:
                    self._no_pipelining(origin)
                if not exc.unanswered:
                    raise
        connection = await self._connect(origin)
        return await connection.exchange(head + body, head_only, snippet_bytes)

    def _connection(self, origin: Origin, depth: int) -> Connection | None:
        """An open connection that takes a request now: the first with room, so that
        requests made together share a write (one not proven yet takes one at a time)."""
        connections = self._open.get(origin)
        if not connections:
            return None
        self._open.move_to_end(origin)
        connections[:] = [c for c in connections if not c.closed]
        for connection in connections:
            if connection.takes(depth if connection.answered else 1):
                return connection
        return None

    def _no_pipelining(self, origin: Origin) -> None:
        self._serial[origin] = None
        while len(self._serial) > self._max_origins:
            self._serial.popitem(last=False)

    async def _connect(self, origin: Origin) -> Connection:
        tls = None
        if origin.tls_name is not None:
            if self._tls is None:
                self._tls = ssl.create_default_context(cafile=certifi.where())
            tls = self._tls
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                _, connection = await loop.create_connection(
                    lambda: Connection(self._read_timeout_s),
                    origin.address,
                    origin.port,
                    ssl=tls,
                    server_hostname=origin.tls_name if tls else None,
                )
        except TimeoutError:
            raise ConnectTimeout(f"no connection within {self._connect_timeout_s:g} s") from None
        except (OSError, ssl.SSLError) as exc:
            raise ConnectError(str(exc) or type(exc).__name__) from None
        connections = self._open.setdefault(origin, [])
        self._open.move_to_end(origin)
        connections[:] = [c for c in connections if not c.closed]
        if len(connections) < self._keep:
            connections.append(connection)
        else:
            connection.last = True  # one request, then it closes
        while len(self._open) > self._max_origins:
            _, stale = self._open.popitem(last=False)
            for old in stale:
                old.retire()
        return connection
