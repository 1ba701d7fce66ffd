"""The fast lane of `tracker serve`'s protocol, on a real uvicorn server over loopback.

Each test speaks raw HTTP/1.1 over a socket, so what is checked is the bytes a client
gets: the same as uvicorn's own ASGI path writes, in order, on the same connection rules.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from app.main import TrackerApp
from app.settings import Settings
from app.streams import keys
from app.streams.producer import Unconfirmed
from tests.edge.wire import Served, exchange, get, normal


async def test_a_click_gets_the_same_bytes_as_on_uvicorns_path(
    edge: Served, plain: Served, code: str
) -> None:
    request = get(f"/c/{code}?sub1=a%20b&sub2=%C3%BC")
    [fast] = await exchange(edge, request)
    [slow] = await exchange(plain, request)
    assert fast.startswith(b"HTTP/1.1 302 Found\r\n")
    assert b"\r\nlocation: " in fast
    assert b"set-cookie: " in fast
    assert normal(fast) == normal(slow)


async def test_a_head_click_has_no_body_and_the_404_matches(
    edge: Served, plain: Served, code: str
) -> None:
    head = get(f"/c/{code}").replace(b"GET", b"HEAD", 1)
    [fast] = await exchange(edge, head)
    [slow] = await exchange(plain, head)
    assert normal(fast) == normal(slow)
    [missing] = await exchange(edge, get("/c/nosuchcode"))
    [missing_slow] = await exchange(plain, get("/c/nosuchcode"))
    assert missing.startswith(b"HTTP/1.1 404 ")
    assert normal(missing) == normal(missing_slow)


async def test_pipelined_requests_are_answered_in_order(
    edge: Served, code: str, redis: Redis, settings: Settings
) -> None:
    """A click, an API request and another click in one write: three answers in order,
    the API's (which runs as an ASGI task) between the two clicks."""
    request = get(f"/c/{code}?sub1=one") + get("/health") + get(f"/c/{code}?sub1=two")
    first, middle, last = await exchange(edge, request, responses=3)
    assert b"s1=one" in first
    assert middle.startswith(b"HTTP/1.1 200 ")
    assert b"s1=two" in last
    stored = 0
    for key in keys.shard_keys(keys.CLICKS, settings.stream_shards):
        stored += int(await redis.xlen(key))
    assert stored == 2


async def test_connection_rules_are_uvicorns(edge: Served, code: str) -> None:
    """`Connection: close` and HTTP/1.0 end the connection after the 302 and say so."""
    for request in (
        get(f"/c/{code}", "Connection: close"),
        f"GET /c/{code} HTTP/1.0\r\nHost: t\r\n\r\n".encode(),
    ):
        reader, writer = await asyncio.open_connection(*edge)
        writer.write(request)
        data = await asyncio.wait_for(reader.read(), 5)  # until the server closes
        writer.close()
        assert data.startswith(b"HTTP/1.1 302 Found\r\n")
        assert b"\r\nconnection: close\r\n" in data


async def test_without_redis_the_click_is_spooled_and_still_redirected(
    app: TrackerApp, edge: Served, code: str
) -> None:
    queue = app.redirector.queue
    async with queue.redis_unreachable():
        [response] = await exchange(edge, get(f"/c/{code}"))
    assert response.startswith(b"HTTP/1.1 302 Found\r\n")
    assert queue.spooled == 1
    assert await queue.replay() == 1


async def test_a_click_its_replicas_did_not_confirm_is_spooled_then_redirected(
    app: TrackerApp, edge: Served, code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """REDIS_WAIT_REPLICAS: a batch Redis took but its replicas did not confirm in time is
    kept in the spool too before the 302 goes out."""
    queue = app.redirector.queue

    def unconfirmed(record: bytes, **_: object) -> asyncio.Future[bool]:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        future.set_exception(Unconfirmed(True))
        return future

    def unconfirmed_then(record: bytes, then: Callable[[Exception], object], **_: object) -> None:
        asyncio.get_running_loop().call_soon(then, Unconfirmed(True))

    monkeypatch.setattr(queue, "submit", unconfirmed)  # uvicorn's lane
    monkeypatch.setattr(queue, "submit_then", unconfirmed_then)  # the front protocol
    [response] = await exchange(edge, get(f"/c/{code}"))
    assert response.startswith(b"HTTP/1.1 302 Found\r\n")
    assert queue.spooled == 1
