"""The bytes of the edge's 302: constant fragments joined around a click's location and
cookie, with the server's default headers (`date`, refreshed each second by uvicorn)."""

from __future__ import annotations

from uvicorn.server import ServerState

_FOUND = b"HTTP/1.1 302 Found\r\n"
_LOCATION = b"location: "
_COOKIE = b"\r\ncache-control: no-store\r\nset-cookie: "
_END = b"\r\ncontent-length: 0\r\n\r\n"
_END_CLOSE = b"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"

# The server's default headers (`date`, refreshed each second by uvicorn) as bytes.
_defaults: list[tuple[bytes, bytes]] | None = None
_defaults_bytes = b""


def _default_headers(server_state: ServerState) -> bytes:
    global _defaults, _defaults_bytes
    headers = server_state.default_headers
    if headers is not _defaults:
        _defaults = headers
        _defaults_bytes = b"".join(b"%s: %s\r\n" % pair for pair in headers)
    return _defaults_bytes


def found(server_state: ServerState, location: bytes, cookie: bytes, close: bool) -> bytes:
    """A 302 to `location` setting `cookie`, telling `connection: close` when `close`."""
    return b"".join(
        (
            _FOUND,
            _default_headers(server_state),
            _LOCATION,
            location,
            _COOKIE,
            cookie,
            _END_CLOSE if close else _END,
        )
    )
