"""The baselines: a raw ASGI app answering a constant 302 on uvicorn with the same flags,
and the same 302 from `tracker serve`'s protocol without ASGI (`--http
loadtests.baseline_app:FrontConstantProtocol`), or from uvicorn's fast lane (`--http
loadtests.baseline_app:ConstantProtocol`)."""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from app.edge.front import FrontProtocol
from app.edge.protocol import EdgeProtocol, write
from app.redirect.handler import Reply

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


class ConstantProtocol(EdgeProtocol):
    """uvicorn's protocol answering every request with the constant 302 from its fast
    lane (no ASGI task): the ceiling of that protocol on this machine."""

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        write(cycle, CONSTANT)


CONSTANT = Reply(302, HEADERS, b"")


class FrontConstantProtocol(FrontProtocol):
    """`tracker serve`'s own protocol answering every `GET /c/...` with the constant 302
    once its head is parsed (called back on the loop's next pass in place of the batch's):
    the ceiling of that protocol on this machine."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.redirector = self  # type: ignore[assignment]

    def start_parsed(self, *args: Any) -> object:
        self.loop.call_soon(args[-1], True)
        return CONSTANT  # in place of the click: anything but None

    def _committed(self, outcome: bool | Exception) -> None:
        self.click = None
        self._answer(self._render(CONSTANT))
