"""A lean HTTP/1.1 client for the sender's tries, with keep-alive connections per receiver.

httpx spent most of the sender's CPU (its pool scans every connection on each request, and
headers and body go out in separate writes); here a request is one write and a response a
few reads. It does what a try needs and no more: no redirects, no cookies, no decoding of
the body (the sender keeps a snippet of it, raw), no HTTP/2.

A connection goes to the address the SSRF guard checked (the pool's key holds it), and is
kept only after a response read to its end. The error classes are named as httpx's, whose
names the delivery log has shown.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections import OrderedDict
from dataclasses import dataclass, field
from urllib.parse import quote

import certifi

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
    buffer: bytearray = field(default_factory=bytearray)

    def usable(self) -> bool:
        return not (self.writer.is_closing() or self.reader.at_eof()) and not self.buffer

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
                return await self._exchange(origin, connection, head + body, snippet_bytes)
            except (RemoteProtocolError, WriteError) as exc:
                # The receiver closed a kept connection before this request reached it
                # (nothing came back): once more on a new one.
                if isinstance(exc, RemoteProtocolError) and not exc.unanswered:
                    raise
        connection = await self._connect(origin)
        return await self._exchange(origin, connection, head + body, snippet_bytes)

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
        self, origin: Origin, connection: _Connection, data: bytes, snippet_bytes: int
    ) -> Response:
        keep = False
        try:
            try:
                connection.writer.write(data)
                await connection.writer.drain()
            except OSError as exc:
                raise WriteError(str(exc) or type(exc).__name__) from None
            response, keep = await self._response(connection, snippet_bytes)
            return response
        finally:
            if keep:
                self._put_back(origin, connection)
            else:
                connection.close()

    async def _head(self, connection: _Connection) -> tuple[int, dict[str, str], bool]:
        """Status, headers and whether it is HTTP/1.1 of the final (non-1xx) response."""
        buffer = connection.buffer
        answered = False
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD_BYTES:
                    raise RemoteProtocolError("response head too long")
                chunk = await self._read(connection)
                if not chunk:
                    raise RemoteProtocolError(
                        "Server disconnected without sending a response.",
                        unanswered=not (answered or buffer),
                    )
                answered = True
                buffer += chunk
                continue
            head = bytes(buffer[:end]).decode("latin-1")
            del buffer[: end + 4]
            status_line, *lines = head.split("\r\n")
            version, _, rest = status_line.partition(" ")
            code = rest[:3]
            if not (version.startswith("HTTP/1.") and code.isdigit() and len(code) == 3):
                raise RemoteProtocolError(f"not an HTTP/1 response: {status_line[:80]!r}")
            headers: dict[str, str] = {}
            for line in lines:
                name, sep, value = line.partition(":")
                if not sep:
                    raise RemoteProtocolError("malformed response header")
                key = name.strip().lower()
                value = value.strip()
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
            status = int(code)
            if 100 <= status < 200 and status != 101:
                continue  # an interim response: the final one follows
            return status, headers, version == "HTTP/1.1"

    async def _response(self, connection: _Connection, snippet_bytes: int) -> tuple[Response, bool]:
        status, headers, http11 = await self._head(connection)
        keep = http11 and "close" not in headers.get("connection", "").lower()
        buffer = connection.buffer
        if status in (204, 304):
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body, complete = await self._chunked(connection, snippet_bytes)
            keep = keep and complete
        elif "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError:
                raise RemoteProtocolError("malformed Content-Length") from None
            wanted = min(length, snippet_bytes)
            while len(buffer) < wanted:
                chunk = await self._read(connection)
                if not chunk:
                    raise RemoteProtocolError("body shorter than its Content-Length")
                buffer += chunk
            body = bytes(buffer[:wanted])
            # A body longer than the snippet is not read to its end: the connection goes.
            keep = keep and length <= snippet_bytes and len(buffer) == length
            del buffer[:wanted]
        else:  # the body ends when the connection does
            while len(buffer) < snippet_bytes and (chunk := await self._read(connection)):
                buffer += chunk
            body, keep = bytes(buffer[:snippet_bytes]), False
        return Response(status, headers, body), keep

    async def _chunked(self, connection: _Connection, snippet_bytes: int) -> tuple[bytes, bool]:
        """The body's first `snippet_bytes`, and whether all of it was read."""
        buffer, body = connection.buffer, bytearray()
        while True:
            while (end := buffer.find(b"\r\n")) < 0:
                if len(buffer) > MAX_HEAD_BYTES:
                    raise RemoteProtocolError("chunk size line too long")
                if not (chunk := await self._read(connection)):
                    raise RemoteProtocolError("chunked body cut short")
                buffer += chunk
            size_text = bytes(buffer[:end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise RemoteProtocolError("malformed chunk size") from None
            if size == 0:
                # The last chunk; trailers (rare) up to the blank line.
                while (trailer_end := buffer.find(b"\r\n\r\n", end)) < 0:
                    if not (chunk := await self._read(connection)):
                        return bytes(body[:snippet_bytes]), False
                    buffer += chunk
                del buffer[: trailer_end + 4]
                return bytes(body[:snippet_bytes]), True
            if len(body) >= snippet_bytes:
                return bytes(body[:snippet_bytes]), False  # enough: the connection goes
            del buffer[: end + 2]
            while len(buffer) < size + 2:
                if not (chunk := await self._read(connection)):
                    raise RemoteProtocolError("chunked body cut short")
                buffer += chunk
            body += buffer[:size]
            del buffer[: size + 2]
