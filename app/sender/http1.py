"""A lean HTTP/1.1 client for the sender's tries, with keep-alive connections per receiver.

httpx spent most of the sender's CPU (its pool scans every connection on each request, and
headers and body go out in separate writes); here a request is one write and a response a
few reads, parsed by llhttp (httptools, Node's parser). It does what a try needs and no
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
from dataclasses import dataclass
from urllib.parse import quote

import certifi
import httptools

# A response's head, with its interim heads, chunk framing and trailers: at most this.
MAX_HEAD_BYTES = 64 * 1024
READ_CHUNK = 64 * 1024
# Kept in the target as they are (RFC 3986 reserved characters, and percent escapes).
_SAFE = "/?#[]@!$&'()*+,;=:%~"


class HTTPError(Exception):
    pass


class InvalidURL(HTTPError):
    pass


class ConnectError(HTTPError):
    pass


class ConnectTimeout(HTTPError):
    pass


class ReadTimeout(HTTPError):
    pass


class WriteError(HTTPError):
    pass


class RemoteProtocolError(HTTPError):
    def __init__(self, message: str, *, unanswered: bool = False) -> None:
        super().__init__(message)
        # Not a byte came back: a kept connection the receiver had closed meanwhile.
        self.unanswered = unanswered


@dataclass(frozen=True, slots=True)
class Response:
    status_code: int
    headers: dict[str, str]  # names lower-cased
    snippet: bytes  # the body's first bytes (chunked framing removed)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a connection goes: the checked address, and the TLS name (None: plain)."""

    address: str
    port: int
    tls_name: str | None


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def usable(self) -> bool:
        return not (self.writer.is_closing() or self.reader.at_eof())

    def close(self) -> None:
        self.writer.close()


def request_target(path: str, query: str) -> str:
    """The request target as sent (and signed): non-ASCII and spaces percent-encoded."""
    target = quote(path or "/", safe=_SAFE)
    return f"{target}?{quote(query, safe=_SAFE)}" if query else target


def request_head(
    method: str, target: str, host: str, headers: dict[str, str], body_length: int | None
) -> bytes:
    """The request line and headers, refusing what would break the framing."""
    if " " in host or " " in target:
        raise InvalidURL("spaces in the request target or host")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body_length is not None:
        lines.append(f"Content-Length: {body_length}")
    if any(c in line for line in lines for c in "\r\n\0"):
        raise InvalidURL("control characters in the request")
    head = "\r\n".join(lines)
    return (head + "\r\n\r\n").encode("ascii", "strict")


def basic_auth(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


class Client:
    """Keep-alive connections per origin (at most `keep` idle ones each, for the
    `max_origins` used last); the caller bounds how many requests run at once."""

    def __init__(
        self, *, connect_timeout_s: float, read_timeout_s: float, keep: int, max_origins: int
    ) -> None:
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self._keep = keep
        self._max_origins = max_origins
        self._idle: OrderedDict[Origin, list[_Connection]] = OrderedDict()
        self._tls: ssl.SSLContext | None = None

    async def aclose(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()

    async def request(
        self,
        origin: Origin,
        method: str,
        head: bytes,
        body: bytes,
        *,
        snippet_bytes: int,
    ) -> Response:
        connection = self._idle_connection(origin)
        if connection is not None:
            try:
                return await self._exchange(origin, connection, method, head + body, snippet_bytes)
            except (RemoteProtocolError, WriteError) as exc:
                # The receiver closed a kept connection before this request reached it
                # (nothing came back): once more on a new one.
                if isinstance(exc, RemoteProtocolError) and not exc.unanswered:
                    raise
        connection = await self._connect(origin)
        return await self._exchange(origin, connection, method, head + body, snippet_bytes)

    def _idle_connection(self, origin: Origin) -> _Connection | None:
        connections = self._idle.get(origin)
        while connections:
            connection = connections.pop()
            if connection.usable():
                return connection
            connection.close()
        return None

    def _put_back(self, origin: Origin, connection: _Connection) -> None:
        connections = self._idle.setdefault(origin, [])
        self._idle.move_to_end(origin)
        if len(connections) >= self._keep:
            connection.close()
        else:
            connections.append(connection)
        while len(self._idle) > self._max_origins:
            _, stale = self._idle.popitem(last=False)
            for old in stale:
                old.close()

    async def _connect(self, origin: Origin) -> _Connection:
        tls = None
        if origin.tls_name is not None:
            if self._tls is None:
                self._tls = ssl.create_default_context(cafile=certifi.where())
            tls = self._tls
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                reader, writer = await asyncio.open_connection(
                    origin.address,
                    origin.port,
                    ssl=tls,
                    server_hostname=origin.tls_name if tls else None,
                    limit=MAX_HEAD_BYTES,
                )
        except TimeoutError:
            raise ConnectTimeout(f"no connection within {self._connect_timeout_s:g} s") from None
        except (OSError, ssl.SSLError) as exc:
            raise ConnectError(str(exc) or type(exc).__name__) from None
        return _Connection(reader, writer)

    async def _read(self, connection: _Connection) -> bytes:
        """More bytes (b"" at the end); the read timeout restarts with every chunk."""
        try:
            async with asyncio.timeout(self._read_timeout_s):
                return await connection.reader.read(READ_CHUNK)
        except TimeoutError:
            raise ReadTimeout(f"nothing read for {self._read_timeout_s:g} s") from None
        except OSError as exc:
            raise RemoteProtocolError(str(exc) or type(exc).__name__) from None

    async def _exchange(
        self, origin: Origin, connection: _Connection, method: str, data: bytes, snippet_bytes: int
    ) -> Response:
        keep = False
        try:
            try:
                connection.writer.write(data)
                await connection.writer.drain()
            except OSError as exc:
                raise WriteError(str(exc) or type(exc).__name__) from None
            response, keep = await self._response(connection, method == "HEAD", snippet_bytes)
            return response
        finally:
            if keep:
                self._put_back(origin, connection)
            else:
                connection.close()

    async def _response(
        self, connection: _Connection, head_only: bool, snippet_bytes: int
    ) -> tuple[Response, bool]:
        """The final response, and whether the connection may serve another request."""
        reading = _Reading(head_only, snippet_bytes)
        fed = 0
        # A body longer than the snippet is not read to its end: the connection goes.
        while not (reading.done or reading.body_bytes > snippet_bytes):
            if fed - reading.body_bytes > MAX_HEAD_BYTES:
                raise RemoteProtocolError("response head too long")
            data = await self._read(connection)
            if not data:
                if not reading.head_done:
                    raise RemoteProtocolError(
                        "Server disconnected without sending a response.", unanswered=not fed
                    )
                if reading.framed:
                    raise RemoteProtocolError("Server disconnected before the end of the body.")
                break  # the body ends when the connection does
            fed += len(data)
            try:
                reading.parser.feed_data(data)
            except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
                if not reading.done:
                    raise RemoteProtocolError(f"not an HTTP/1 response: {exc}") from None
                reading.keep = False  # after a HEAD's head, or a 101
            if reading.head_done and not reading.version.startswith("1."):
                raise RemoteProtocolError(f"not an HTTP/1 response: HTTP/{reading.version}")
        keep = reading.done and reading.keep and not reading.after
        keep = keep and reading.body_bytes <= snippet_bytes
        return Response(reading.status, reading.headers, bytes(reading.body)), keep


class _HeadOnly(Exception):
    """Stops llhttp after a HEAD's response head (it would wait for the body announced)."""


class _Reading:
    """httptools' callbacks for one exchange: interim (1xx) responses skipped, the final
    response's head, and the first `snippet_bytes` of its body (framing removed)."""

    def __init__(self, head_only: bool, snippet_bytes: int) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.head_only, self.snippet_bytes = head_only, snippet_bytes
        self.status, self.version = 0, ""
        self.headers: dict[str, str] = {}
        self.body = bytearray()
        self.body_bytes = 0
        self.head_done = self.done = self.keep = self.framed = self.after = False

    def on_message_begin(self) -> None:
        if self.head_done:
            self.after = True  # bytes after the response: its connection is not kept
        else:
            self.headers = {}  # an interim response's are dropped

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.head_done:
            return  # a trailer
        key, text = name.decode("latin-1").lower(), value.decode("latin-1").strip()
        self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            return  # an interim response: the final one follows
        self.status, self.version, self.head_done = status, self.parser.get_http_version(), True
        self.keep = self.version == "1.1" and self.parser.should_keep_alive()
        transfer_encoding = self.headers.get("transfer-encoding", "").lower()
        self.framed = "content-length" in self.headers or "chunked" in transfer_encoding
        if self.head_only:
            self.done, self.keep = True, False
            raise _HeadOnly

    def on_body(self, data: bytes) -> None:
        self.body_bytes += len(data)
        self.body += data[: self.snippet_bytes - len(self.body)]

    def on_message_complete(self) -> None:
        self.done = self.head_done
