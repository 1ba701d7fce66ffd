"""The hostile HTTP suite on `GET /postback` and `GET /pixel.gif`, which the front protocol
answers itself now (test_hostile_http.py holds it for clicks): on both protocols."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest
from redis.asyncio import Redis

from app.clickid import new_click_id
from app.edge import front as front_protocol
from app.edge import protocol
from app.settings import Settings
from tests.edge.test_intake import conversions
from tests.edge.wire import Served, exchange, get, read_all, read_until_closed

OK = b"HTTP/1.1 200 OK\r\n"


@pytest.fixture(params=["postback", "pixel"])
def path(request: pytest.FixtureRequest, tokens: dict[str, str]) -> str:
    """An intake request that is accepted (and stores a conversion)."""
    click = new_click_id()[0]
    if request.param == "pixel":
        return f"/pixel.gif?click_id={click}"
    return f"/postback?token={tokens['plain']}&click_id={click}&txid=H-{click}"


async def test_pipelined_intake_requests_are_answered_in_order(
    edge: Served, tokens: dict[str, str], code: str, redis: Redis, settings: Settings
) -> None:
    click = new_click_id()[0]
    request = (
        get(f"/postback?token={tokens['plain']}&click_id={click}&txid=one")
        + get("/postback?token=nosuch")
        + get(f"/pixel.gif?click_id={click}")
        + get(f"/c/{code}")
        + get(f"/postback?token={tokens['plain']}&click_id={click}&txid=two")
    )
    answers = await exchange(edge, request, responses=5)
    assert [answer.split(b"\r\n", 1)[0] for answer in answers] == [
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 401 Unauthorized",
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 302 Found",
        b"HTTP/1.1 200 OK",
    ]
    assert await conversions(redis, settings) == 3


async def test_a_smuggled_request_behind_an_intake_get_is_never_answered(
    edge: Served, path: str, redis: Redis, settings: Settings
) -> None:
    smuggled = get(path, "Content-Length: 5", "Transfer-Encoding: chunked")
    smuggled += b"0\r\n\r\n" + get(path)
    data = await read_all(edge, smuggled)
    assert data.startswith(b"HTTP/1.1 400 ")
    assert data.count(b"HTTP/1.1") == 1
    assert await conversions(redis, settings) == 0


@pytest.mark.parametrize(
    "head",
    [
        b"GET %s HTTP/1.1\nHost: t\n\nGET %s HTTP/1.1\r\nHost: t\r\n\r\n",  # bare LF
        b"GET %s HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n",  # a CR inside a value
        b"GET %s\xff HTTP/1.1\r\nHost: t\r\n\r\n",  # not ASCII
        b"GET %s HTTP/9.1\r\nHost: t\r\n\r\n",  # no such version
    ],
)
async def test_a_malformed_intake_head_is_a_400_and_stores_nothing(
    edge: Served, path: str, redis: Redis, settings: Settings, head: bytes
) -> None:
    data = await read_all(edge, head.replace(b"%s", path.encode()))
    assert data.startswith(b"HTTP/1.1 400 ")
    assert data.count(b"HTTP/1.1 ") == 1
    assert await conversions(redis, settings) == 0


async def test_an_oversized_intake_request_is_refused(edge: Served, path: str) -> None:
    long_url = get(path + "&sub1=" + "a" * (protocol.MAX_HEAD_BYTES + 10))
    assert (await read_all(edge, long_url)).startswith(b"HTTP/1.1 431 ")
    many = get(path, *[f"X-Pad-{i}: {'b' * 100}" for i in range(1000)])
    assert (await read_all(edge, many)).startswith(b"HTTP/1.1 431 ")


async def test_a_slow_intake_request_is_cut_off(edge: Served, path: str, monkeypatch: Any) -> None:
    monkeypatch.setattr(protocol, "READ_TIMEOUT_S", 1.0)
    reader, writer = await asyncio.open_connection(*edge)
    writer.write(get(path)[:-2])  # the head never ends
    started = time.monotonic()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert data.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started >= 0.9


async def test_an_idle_connection_after_an_intake_answer_is_closed(edge: Served, path: str) -> None:
    reader, writer = await asyncio.open_connection(*edge)
    writer.write(get(path))
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(OK)
    length = int(head.split(b"content-length: ")[1].split(b"\r\n")[0])
    await reader.readexactly(length)
    # The test server's keep-alive timeout is 2 s: then the server closes.
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()


async def test_the_keep_alive_limit_counts_intake_requests(
    front: Served, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(front_protocol, "MAX_KEEPALIVE_REQUESTS", 2)
    data = await read_all(front, get(path) + get(path) + get(path))
    assert data.count(OK) == 2  # the third is never read
    assert data.count(b"connection: close\r\n") == 1


async def test_an_expect_header_on_an_intake_get_gets_the_answer_alone(
    edge: Served, path: str
) -> None:
    data = await read_all(edge, get(path, "Expect: 100-continue", "Connection: close"))
    assert data.startswith(OK)
    assert b"100 Continue" not in data


async def test_a_half_closed_client_gets_its_intake_answers(
    edge: Served, path: str, code: str
) -> None:
    with socket.create_connection(edge, timeout=5) as sock:
        sock.sendall(get(path) + get(f"/c/{code}") + get(path))
        sock.shutdown(socket.SHUT_WR)
        data = await asyncio.to_thread(read_until_closed, sock)
    assert data.count(OK) == 2
    assert data.count(b"HTTP/1.1 302 Found\r\n") == 1


async def test_a_body_on_an_intake_get_is_not_read_as_a_request(
    edge: Served, path: str, redis: Redis, settings: Settings
) -> None:
    body = b"GET /postback?token=x HTTP/1.1\r\n"  # looks like a request; is a body
    request = get(path, f"Content-Length: {len(body)}") + body + get(path)
    first, second = await exchange(edge, request, responses=2)
    assert first.startswith(OK)
    assert second.startswith(OK)
    assert await conversions(redis, settings) == 2


async def test_garbage_after_an_intake_request_ends_the_connection(edge: Served, path: str) -> None:
    data = await read_all(edge, get(path) + b"\x00\x01 NOT HTTP\r\n\r\n")
    assert data.startswith(OK)
    assert b"HTTP/1.1 400 " in data
