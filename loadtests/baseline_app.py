"""The baseline: a raw ASGI app answering a constant 302, served with the same flags."""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

HEADERS = [(b"location", b"https://shop.example/landing"), (b"content-length", b"0")]


async def app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[Any]],
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 302, "headers": HEADERS})
    await send({"type": "http.response.body", "body": b""})
