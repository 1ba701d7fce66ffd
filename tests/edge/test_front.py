"""`tracker serve`'s own protocol (app.edge.front): what it takes itself, what it hands to
uvicorn's, and its own connection rules, in raw bytes over loopback. The hostile suite
in test_hostile_http.py and the fast-lane tests in test_protocol.py run on it too."""

from __future__ import annotations

import asyncio
import socket

import pytest
from redis.asyncio import Redis

from app.clicks import record as click_record
from app.edge import front as front_protocol
from app.main import TrackerApp
from app.proxies import TrustedProxies
from app.settings import Settings
from app.streams import keys
from tests.edge.wire import Served, exchange, get, read_all, read_until_closed
from tests.helpers import stream_entries


async def _records(redis: Redis, settings: Settings) -> list[click_record.ClickRecord]:
    found = []
    for key in keys.shard_keys(keys.CLICKS, settings.stream_shards):
        found += [click_record.decode(f[b"r"]) for _, f in await stream_entries(redis, key)]
    return sorted(found, key=lambda r: r.ms)


async def test_pipelined_clicks_are_answered_in_order_one_each(
    front: Served, code: str, redis: Redis, settings: Settings
) -> None:
    request = b"".join(get(f"/c/{code}?sub1=n{i:02}") for i in range(20))
    answers = await exchange(front, request, responses=20)
    for i, answer in enumerate(answers):
        assert answer.startswith(b"HTTP/1.1 302 Found\r\n")
        assert f"s1=n{i:02}".encode() in answer
    assert len(await _records(redis, settings)) == 20


async def test_a_head_sent_a_byte_at_a_time_is_one_click(
    front: Served, code: str, redis: Redis, settings: Settings
) -> None:
    reader, writer = await asyncio.open_connection(*front)
    for byte in get(f"/c/{code}?sub1=slow"):
        writer.write(bytes([byte]))
        await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    writer.close()
    assert head.startswith(b"HTTP/1.1 302 Found\r\n")
    [stored] = await _records(redis, settings)
    assert stored.subs["sub1"] == "slow"


async def test_the_keep_alive_limit_closes_after_its_last_answer(
    front: Served, code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(front_protocol, "MAX_KEEPALIVE_REQUESTS", 2)
    data = await read_all(front, get(f"/c/{code}") + get(f"/c/{code}") + get(f"/c/{code}"))
    assert data.count(b"HTTP/1.1 302 Found\r\n") == 2  # the third is never read
    assert data.count(b"connection: close\r\n") == 1
    assert data.endswith(b"connection: close\r\n\r\n")


@pytest.mark.parametrize("framing", ["Content-Length: 0", "transfer-ENCODING: chunked"])
async def test_a_click_announcing_a_body_is_uvicorns_and_counted_once(
    front: Served, code: str, redis: Redis, settings: Settings, framing: str
) -> None:
    request = get(f"/c/{code}", framing)
    if "chunked" in framing:
        # The chunked body ends the message; a second request follows it.
        request += b"0\r\n\r\n" + get(f"/c/{code}?sub1=two")
        first, second = await exchange(front, request, responses=2)
        assert b"two" in second
    else:
        [first] = await exchange(front, request)
    assert first.startswith(b"HTTP/1.1 302 Found\r\n")
    assert len(await _records(redis, settings)) == (2 if "chunked" in framing else 1)


async def test_a_smuggled_request_behind_a_click_is_never_answered(
    front: Served, code: str, redis: Redis, settings: Settings
) -> None:
    """Content-Length and Transfer-Encoding on a click: 400, and nothing behind it read."""
    smuggled = get(f"/c/{code}", "Content-Length: 5", "Transfer-Encoding: chunked")
    smuggled += b"0\r\n\r\n" + get(f"/c/{code}?sub1=smuggled")
    data = await read_all(front, smuggled)
    assert data.startswith(b"HTTP/1.1 400 ")
    assert data.count(b"HTTP/1.1") == 1
    assert await _records(redis, settings) == []


@pytest.mark.parametrize(
    "head",
    [
        b"GET /c/%s HTTP/1.1\nHost: t\n\nGET /c/%s HTTP/1.1\r\nHost: t\r\n\r\n",  # bare LF
        b"GET /c/%s HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n",  # a CR inside a value
        b"GET /c/%s\xff HTTP/1.1\r\nHost: t\r\n\r\n",  # not ASCII
        b"GET /c/%s HTTP/9.1\r\nHost: t\r\n\r\n",  # no such version
    ],
)
async def test_a_malformed_click_head_is_a_400_and_no_click(
    front: Served, code: str, redis: Redis, settings: Settings, head: bytes
) -> None:
    data = await read_all(front, head.replace(b"%s", code.encode()))
    assert data.startswith(b"HTTP/1.1 400 ")
    assert data.count(b"HTTP/1.1 ") == 1
    assert await _records(redis, settings) == []


async def test_a_half_closed_client_gets_every_pipelined_answer(front: Served, code: str) -> None:
    with socket.create_connection(front, timeout=5) as sock:
        sock.sendall(get(f"/c/{code}?sub1=a") + get("/health") + get(f"/c/{code}?sub1=b"))
        sock.shutdown(socket.SHUT_WR)
        data = await asyncio.to_thread(read_until_closed, sock)
    assert data.count(b"HTTP/1.1 302 Found\r\n") == 2
    assert data.count(b"HTTP/1.1 200 OK\r\n") == 1
    assert data.index(b"200 OK") < data.rindex(b"302 Found")


async def test_an_expect_header_on_a_click_gets_the_302_alone(edge: Served, code: str) -> None:
    """No body is announced: nothing to continue, the final answer at once (both
    protocols)."""
    data = await read_all(edge, get(f"/c/{code}", "Expect: 100-continue", "Connection: close"))
    assert data.startswith(b"HTTP/1.1 302 Found\r\n")
    assert b"100 Continue" not in data


async def test_forwarded_headers_count_only_from_a_trusted_proxy(
    app: TrackerApp, front: Served, code: str, redis: Redis, settings: Settings
) -> None:
    forwarded = ("X-Forwarded-For: 203.0.113.9, 127.0.0.2", "X-Forwarded-Proto: https")
    [untrusted] = await exchange(front, get(f"/c/{code}?sub1=a", *forwarded))
    app.redirector.trusted = TrustedProxies(["127.0.0.0/8"])
    [trusted] = await exchange(front, get(f"/c/{code}?sub1=b", *forwarded))
    assert b"SameSite=None; Secure" not in untrusted
    assert b"SameSite=None; Secure" in trusted
    first, second = await _records(redis, settings)
    assert (first.ip, second.ip) == ("127.0.0.1", "203.0.113.9")


async def test_a_pipelined_api_request_waits_for_the_click_before_it(
    front: Served, code: str
) -> None:
    """The hand-over to uvicorn's protocol happens once the click's answer is out."""
    first, second = await exchange(front, get(f"/c/{code}") + get("/health"), responses=2)
    assert first.startswith(b"HTTP/1.1 302 Found\r\n")
    assert second.startswith(b"HTTP/1.1 200 OK\r\n")


async def test_an_unknown_code_is_answered_by_the_app(front: Served) -> None:
    [answer] = await exchange(front, get("/c/nosuchcode"))
    assert answer.startswith(b"HTTP/1.1 404 ")
