"""GET|POST /postback and GET /pixel.gif as plain ASGI, answered before FastAPI.

Measured in loadtests/bench_postbacks.py: through FastAPI's middleware and route matching
(the API has dozens of routes ahead of these) intake reached 8% of the raw ASGI baseline,
under the 10% target; this path skips both. The logic is the same service calls the
FastAPI routes in routes.py make, which stay for the OpenAPI schema.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any

import orjson

from app.errors import AppError, error_body
from app.postbacks import service as intake_service
from app.postbacks.routes import ACCEPTED, GIF

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

POSTBACK = "/postback"
PIXEL = "/pixel.gif"
_WANTED = frozenset(
    (
        b"content-type",
        b"content-length",
        b"x-forwarded-for",
        b"cookie",
        intake_service.SIGNATURE_HEADER.encode(),
    )
)
_JSON = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
_GIF = [(b"content-type", b"image/gif"), (b"cache-control", b"no-store")]


def is_intake(method: str, path: str) -> bool:
    return (path == POSTBACK and method in ("GET", "POST")) or (path == PIXEL and method == "GET")


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


def _framed(status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> Answer:
    return status, [*headers, (b"content-length", str(len(body)).encode())], body


def postback_answer(error: AppError | None) -> Answer:
    """A postback's answer (status, headers with content-length, body): accepted, or the
    error's JSON. The edge's own protocol (app.edge.front) writes the same."""
    if error is None:
        return _ACCEPTED
    return _framed(error.status, _JSON, orjson.dumps(error_body(error.code, error.message)))


_ACCEPTED = _framed(200, _JSON, ACCEPTED)
PIXEL_ANSWER = _framed(200, _GIF, GIF)


async def _send(send: Send, answer: Answer) -> None:
    status, headers, body = answer
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def cookie_of(header: str | None, name: str) -> str | None:
    if not header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except Exception:  # a malformed Cookie header is the visitor's problem, not ours
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None


async def handle(intake: intake_service.Intake, scope: Scope, receive: Receive, send: Send) -> None:
    headers = {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in scope["headers"]
        if name in _WANTED
    }
    if scope["path"] == PIXEL:
        cookie = cookie_of(headers.get("cookie"), intake.settings.click_cookie)
        await intake_service.receive_pixel(
            intake,
            query=scope["query_string"],
            cookie=cookie,
            peer=scope["client"][0] if scope.get("client") else "",
            forwarded_for=headers.get("x-forwarded-for"),
        )
        await _send(send, PIXEL_ANSWER)
        return
    try:
        await intake_service.receive_postback(
            intake,
            method=scope["method"],
            query=scope["query_string"],
            headers=headers,
            peer=scope["client"][0] if scope.get("client") else "",
            chunks=_chunks(receive),
        )
    except AppError as exc:
        await _send(send, postback_answer(exc))
        return
    await _send(send, postback_answer(None))
