"""`GET /postback` and `GET /pixel.gif` on the edge's own protocol (app.edge.front).

The same service calls as the ASGI path (app.postbacks.asgi) and the same answers, in the
same bytes: a postback is judged and submitted to the group commit without an await
(app.postbacks.unawaited) and answered from its batch's callback; anything whose answer
needs an await (a refusal confirmed against a fresh catalog version, the spool, the
pixel's rate limit in Redis) is answered from a task once that ends.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from app.edge.protocol import render
from app.errors import AppError
from app.postbacks import service, unawaited
from app.postbacks.asgi import PIXEL, PIXEL_ANSWER, POSTBACK, Answer, cookie_of, postback_answer
from app.redirect.handler import Reply

PATHS = frozenset((POSTBACK, PIXEL))
# The headers the intake reads; of each, the last one sent counts (as in the ASGI path).
HEADERS = frozenset((b"x-forwarded-for", b"cookie", service.SIGNATURE_HEADER.encode()))
_SIGNATURE = service.SIGNATURE_HEADER.encode()
_ACCEPTED = postback_answer(None)
# The accepted postback's and the pixel's bytes, by (keep-alive, HEAD), as rendered with
# the server's default headers of `_rendered_with` (`date`: a new list each second).
_rendered: dict[tuple[bool, bool, bool], bytes] = {}
_rendered_with: list[tuple[bytes, bytes]] | None = None


def rendered(
    answer: Answer, default_headers: list[tuple[bytes, bytes]], keep_alive: bool, head: bool
) -> bytes:
    """`protocol.render` of an intake answer; the two constant ones rendered once a second."""
    global _rendered_with
    if answer is not _ACCEPTED and answer is not PIXEL_ANSWER:
        return render(Reply(*answer), default_headers, keep_alive, head)
    if default_headers is not _rendered_with:
        _rendered.clear()
        _rendered_with = default_headers
    key = (answer is _ACCEPTED, keep_alive, head)
    found = _rendered.get(key)
    if found is None:
        found = _rendered[key] = render(Reply(*answer), default_headers, keep_alive, head)
    return found


def start(
    intake: service.Intake,
    path: str,
    query: bytes,
    headers: dict[bytes, bytes],
    peer: str,
    then: Callable[[Answer], object],
    later: Callable[[Coroutine[Any, Any, Answer]], object],
) -> None:
    """Start the intake request at `path` (one of PATHS): `then(answer)` from the batch's
    callback (or at once), or `later(coroutine)` whose result is the answer."""
    if path == PIXEL:
        start_pixel(intake, query, headers, peer, later)
        return
    start_postback(
        intake,
        query,
        headers,
        peer,
        lambda error: then(postback_answer(error)),
        lambda answer: later(answer_of(answer)),
    )


def start_postback(
    intake: service.Intake,
    query: bytes,
    headers: dict[bytes, bytes],
    peer: str,
    then: Callable[[AppError | None], object],
    later: Callable[[Coroutine[Any, Any, None]], object],
) -> None:
    """`start` of a postback, with unawaited's callbacks: `then(error)` (None: accepted;
    `postback_answer` says the answer), or `later(coroutine)` (`answer_of` it). The edge's
    protocol binds the two once a connection, not two closures a postback."""
    unawaited.start(
        intake,
        query=query,
        peer=peer,
        forwarded_for=_text(headers, b"x-forwarded-for"),
        signature=_text(headers, _SIGNATURE),
        then=then,
        later=later,
    )


def start_pixel(
    intake: service.Intake,
    query: bytes,
    headers: dict[bytes, bytes],
    peer: str,
    later: Callable[[Coroutine[Any, Any, Answer]], object],
) -> None:
    forwarded_for = _text(headers, b"x-forwarded-for")
    later(_pixel(intake, query, _text(headers, b"cookie"), peer, forwarded_for))


async def answer_of(answer: Coroutine[Any, Any, None]) -> Answer:
    """The answer of a postback whose outcome `answer` awaits (unawaited's `later`)."""
    try:
        await answer
    except AppError as exc:
        return postback_answer(exc)
    return postback_answer(None)


async def _pixel(
    intake: service.Intake,
    query: bytes,
    cookie: str | None,
    peer: str,
    forwarded_for: str | None,
) -> Answer:
    await service.receive_pixel(
        intake,
        query=query,
        cookie=cookie_of(cookie, intake.settings.click_cookie),
        peer=peer,
        forwarded_for=forwarded_for,
    )
    return PIXEL_ANSWER


def _text(headers: dict[bytes, bytes], name: bytes) -> str | None:
    value = headers.get(name)
    return None if value is None else value.decode("latin-1")
