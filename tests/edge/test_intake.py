"""`GET /postback` and `GET /pixel.gif` on `tracker serve`'s own protocol: the same bytes
as uvicorn's ASGI path for valid and invalid requests, and answered without it."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import pytest
from redis.asyncio import Redis

from app import signing
from app.clickid import new_click_id
from app.errors import BadRequest
from app.main import TrackerApp
from app.postbacks import asgi as intake_asgi
from app.postbacks import freshness, params
from app.settings import Settings
from app.streams import keys
from tests.edge.conftest import SECRET
from tests.edge.wire import Served, exchange, get, normal, read_all


async def conversions(redis: Redis, settings: Settings) -> int:
    return sum(
        [
            int(await redis.xlen(key))
            for key in keys.shard_keys(keys.CONVERSIONS, settings.stream_shards)
        ]
    )


def _requests(tokens: dict[str, str]) -> list[bytes]:
    """Valid and invalid intake requests (and near misses that are not the intake's)."""
    click = new_click_id()[0]
    signed_query = f"token={tokens['signed']}&click_id={click}&txid=S-{click}"
    stamp = int(time.time())
    signature = signing.sign(SECRET, stamp, signed_query.encode())
    plain = tokens["plain"]
    return [
        get(f"/postback?token={plain}&click_id={click}&txid=T-{click}&amount=12.50&currency=EUR"),
        get(f"/postback?token={plain}&click_id={click}&txid=T2-{click}", "Connection: close"),
        get(f"/postback?token={plain}&coupon=SPRING&txid=C-{click}"),
        get("/postback"),  # no token
        get("/postback?token=nosuchtoken&click_id=x"),
        get(f"/postback?token={plain}"),  # nothing to attribute
        get(f"/postback?token={plain}&coupon=SPRING"),  # click-less without txid
        get(f"/postback?token={plain}&click_id={click}&amount=lots"),
        get(f"/postback?token={plain}&click_id=not-a-click"),
        get(f"/postback?token={plain}&click_id={click}&status=bogus"),
        get(f"/postback?token={plain}&click_id={click}&currency=XXXX"),
        get(f"/postback?token={plain}&txid={'x' * 300}&coupon=A"),
        get(f"/postback?token={plain}&click_id=%ff%fe&txid=%00"),
        get(f"/postback?{quote('token')}={plain}&click_id={click}&txid=Q-{click}&x=%zz"),
        get(f"/postback?{signed_query}"),  # signed, no signature
        get(f"/postback?{signed_query}", "X-Signature: garbage"),
        get(f"/postback?{signed_query}", f"X-Signature: {signing.sign('other', stamp, b'x')}"),
        get(f"/postback?{signed_query}", "X-Signature: garbage", f"X-Signature: {signature}"),
        get(f"/postback?{signed_query}&txid=again", f"X-Signature: {signature}"),
        get(f"/postback?{signed_query}", f"X-Signature: {signature}"),
        get(f"/postback?token={tokens['walled']}&click_id={click}&txid=W-{click}"),
        get(
            f"/postback?token={tokens['walled']}&click_id={click}&txid=W-{click}",
            "X-Forwarded-For: 10.1.2.3",  # from an untrusted peer: not the client
        ),
        get(f"/postback%3Ftoken={plain}"),  # an encoded "?" is part of the path
        get(f"/postbackx?token={plain}"),
        get(f"/postback/?token={plain}"),
        get(f"/postback?token={plain}", "Connection: close").replace(b"GET", b"HEAD", 1),
        get(f"/pixel.gif?click_id={click}&txid=P-{click}"),
        get("/pixel.gif", f"Cookie: tclid={click}"),
        get("/pixel.gif", "Cookie: ===broken"),
        get("/pixel.gif?click_id=junk"),
        get("/pixel.gif"),
    ]


async def _answer(served: Served, request: bytes) -> bytes:
    if request.startswith(b"HEAD"):  # no body to read by its content-length
        return await read_all(served, request)
    [answer] = await exchange(served, request)
    return answer


async def _compare(
    front: Served, plain: Served, tokens: dict[str, str], check: Callable[[], Awaitable[int]]
) -> list[bytes]:
    answers = []
    for request in _requests(tokens):
        stored = await check()
        fast = await _answer(front, request)
        stored_by_front = await check() - stored
        slow = await _answer(plain, request)  # the same bytes on uvicorn's own path
        stored_by_uvicorn = await check() - stored - stored_by_front
        assert normal(fast) == normal(slow), request
        assert stored_by_front == stored_by_uvicorn, request
        answers.append(fast)
    return answers


async def test_the_front_answers_as_uvicorns_path_does(
    front: Served, plain: Served, tokens: dict[str, str], redis: Redis, settings: Settings
) -> None:
    answers = await _compare(front, plain, tokens, lambda: conversions(redis, settings))
    statuses = [answer.split(b" ", 2)[1] for answer in answers]
    # What the list holds, so that the comparison is not of two servers failing alike.
    assert statuses.count(b"200") >= 10
    assert {b"400", b"401", b"403", b"404"} <= set(statuses)
    assert b'{"status":"accepted"}' in answers[0]
    assert b'"code":"invalid_signature"' in answers[14]
    assert b'"code":"bad_signature"' in answers[15]
    assert answers[17].startswith(b"HTTP/1.1 200 ")  # the last X-Signature counts
    assert b'"code":"invalid_signature"' in answers[18]  # the signature is of another query
    assert answers[19].startswith(b"HTTP/1.1 200 ")
    assert b'"code":"address_not_allowed"' in answers[20]
    assert b"content-type: image/gif\r\n" in answers[-1]


async def test_bodiless_gets_are_the_fronts_own_and_posts_uvicorns(
    front: Served, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ASGI intake is never reached for a bodiless GET; a POST still goes there."""
    reached: list[str] = []
    handle = intake_asgi.handle

    async def counted(intake: Any, scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["method"])
        await handle(intake, scope, receive, send)

    monkeypatch.setattr(intake_asgi, "handle", counted)
    click = new_click_id()[0]
    [postback] = await exchange(front, get(f"/postback?token={tokens['plain']}&click_id={click}"))
    [pixel] = await exchange(front, get(f"/pixel.gif?click_id={click}"))
    [refused] = await exchange(front, get("/postback?token=nosuch"))
    assert (postback.split(b" ")[1], pixel.split(b" ")[1], refused.split(b" ")[1]) == (
        b"200",
        b"200",
        b"401",
    )
    assert reached == []
    body = f"token={tokens['plain']}&click_id={click}&txid=F-1".encode()
    post = (
        b"POST /postback HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded"
        b"\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    [posted] = await exchange(front, post)
    assert posted.startswith(b"HTTP/1.1 200 ")
    assert reached == ["POST"]


async def test_a_postback_redis_does_not_take_is_spooled_then_accepted(
    app: TrackerApp, front: Served, tokens: dict[str, str]
) -> None:
    queue = app.intake.queue
    async with queue.redis_unreachable():
        [answer] = await exchange(
            front, get(f"/postback?token={tokens['plain']}&click_id={new_click_id()[0]}")
        )
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert queue.spooled == 1
    assert await queue.replay() == 1


async def test_a_pipeline_of_postbacks_refused_at_once_is_answered_whole(
    front: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused before any await (a query that does not parse): each answer still waits for
    the loop's next pass, so 400 of them in one write are not answered by recursion."""

    def unparsable(query: bytes) -> None:
        raise BadRequest("the parameters are not URL-encoded", code="invalid_request")

    monkeypatch.setattr(params, "from_query", unparsable)
    answers = await exchange(front, get("/postback?x") * 400, responses=400)
    assert all(answer.startswith(b"HTTP/1.1 400 Bad Request\r\n") for answer in answers)
    assert b'"code":"invalid_request"' in answers[-1]


async def test_a_postback_the_stream_refuses_as_judged_on_a_stale_version_is_judged_again(
    front: Served,
    tokens: dict[str, str],
    redis: Redis,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The front protocol's batch callback (app.postbacks.unawaited): a record the script
    refuses (the catalog moved since its judgement) is judged again from the reloaded
    cache and queued once, then answered 200."""
    real = freshness.admission_args
    calls: list[bytes] = []

    def stale_first(version: bytes) -> tuple[bytes, bytes]:
        calls.append(version)
        return real(b"a version the catalog has moved on from" if len(calls) == 1 else version)

    monkeypatch.setattr(freshness, "admission_args", stale_first)
    click = new_click_id()[0]
    [answer] = await exchange(
        front, get(f"/postback?token={tokens['plain']}&click_id={click}&txid=R-1")
    )
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert len(calls) == 2  # refused once by the script, then put again
    assert await conversions(redis, settings) == 1
