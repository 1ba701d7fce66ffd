"""Pipelining in the sender's HTTP/1.1 client: requests made together to a receiver that
has answered go out on one connection and get their own responses, in order; requests
left unanswered when a receiver drops or closes a pipelined connection are sent again on
a new one, and a receiver that dropped one gets no more pipelining. A request the client
wrote behind a response it gave up on itself is never sent again at once: the receiver
may have taken it."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from app.sender import http1, http1_conn
from app.sender.receivers import PIPELINE_BELOW_S, Receivers
from tests.sender import test_http1
from tests.sender.test_http1 import KeepAliveServer

server = test_http1.server
client = test_http1.client


def _echo(head: bytes) -> bytes:
    """Answers with the request's path, so each response shows which request it is for."""
    path = head.split(b" ", 2)[1]
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(path), path)


async def _get(
    client: http1.Client, server: KeepAliveServer, path: str, *, pipelined: bool = True
) -> http1.Response:
    head = http1.request_head("GET", path, f"127.0.0.1:{server.port}", {}, None)
    origin = http1.Origin("127.0.0.1", server.port, None)
    return await client.request(origin, "GET", head, b"", snippet_bytes=1024, pipelined=pipelined)


async def _many(client: http1.Client, server: KeepAliveServer, count: int) -> list[bytes]:
    responses = await asyncio.gather(*(_get(client, server, f"/{i}") for i in range(count)))
    return [r.snippet for r in responses]


async def test_requests_made_together_share_one_proven_connection(
    client: http1.Client, server: KeepAliveServer
) -> None:
    server.answer = _echo
    await _get(client, server, "/first")  # a connection that has answered once
    assert await _many(client, server, 12) == [f"/{i}".encode() for i in range(12)]
    assert server.connections == 1


async def test_without_pipelining_each_request_in_flight_has_its_connection(
    client: http1.Client, server: KeepAliveServer
) -> None:
    server.answer = _echo
    await _get(client, server, "/first", pipelined=False)
    responses = await asyncio.gather(
        *(_get(client, server, f"/{i}", pipelined=False) for i in range(3))
    )
    assert [r.snippet for r in responses] == [b"/0", b"/1", b"/2"]
    assert server.connections == 3


async def test_a_request_given_up_leaves_the_others_their_own_responses(
    client: http1.Client, server: KeepAliveServer
) -> None:
    server.answer = _echo
    await _get(client, server, "/first")
    tasks = [asyncio.create_task(_get(client, server, f"/{i}")) for i in range(5)]
    await asyncio.sleep(0)  # the requests are made (written at the end of this turn)
    tasks[1].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(done[1], asyncio.CancelledError)
    assert [r.snippet for r in done if isinstance(r, http1.Response)] == [
        b"/0",
        b"/2",
        b"/3",
        b"/4",
    ]
    assert (await _get(client, server, "/after")).snippet == b"/after"
    assert server.connections == 1


async def test_a_receiver_dropping_a_pipeline_gets_the_rest_again_and_no_more_pipelining(
    client: http1.Client, server: KeepAliveServer
) -> None:
    server.answer = _echo
    await _get(client, server, "/first")
    server.close_after_each = True  # answers one request, then hangs up without saying
    assert await _many(client, server, 4) == [b"/0", b"/1", b"/2", b"/3"]
    server.close_after_each = False
    await _get(client, server, "/again")  # a connection that has answered, kept
    before = server.connections
    assert await _many(client, server, 3) == [b"/0", b"/1", b"/2"]
    assert server.connections - before == 2  # one request per connection from now on


async def test_requests_behind_a_connection_close_are_sent_again(
    client: http1.Client, server: KeepAliveServer
) -> None:
    answered = 0

    def close_on_the_second(head: bytes) -> bytes:
        nonlocal answered
        answered += 1
        if answered == 2:
            return b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n/0"
        return _echo(head)

    server.answer = close_on_the_second
    await _get(client, server, "/first")
    assert await _many(client, server, 4) == [b"/0", b"/1", b"/2", b"/3"]


@pytest.mark.parametrize("pipelined", [True, False])
async def test_a_head_request_is_never_followed_on_its_connection(
    client: http1.Client, server: KeepAliveServer, pipelined: bool
) -> None:
    server.answer = lambda _: b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
    head = http1.request_head("HEAD", "/", "h.test", {}, None)
    origin = http1.Origin("127.0.0.1", server.port, None)
    for _ in range(2):
        response = await client.request(
            origin, "HEAD", head, b"", snippet_bytes=10, pipelined=pipelined
        )
        assert response.status_code == 200
    assert server.connections == 2


def test_only_a_receiver_that_answered_fast_is_pipelined() -> None:
    receivers = Receivers(concurrency=8)
    assert not receivers.pipelines("fast.test")  # not answered yet
    receivers.finish("fast.test", receivers.start("fast.test"))
    assert receivers.pipelines("fast.test")
    started = receivers.start("slow.test") - PIPELINE_BELOW_S
    receivers.finish("slow.test", started)  # took longer than PIPELINE_BELOW_S
    assert not receivers.pipelines("slow.test")


def _paths(server: KeepAliveServer) -> Counter[str]:
    return Counter(head.split(b" ", 2)[1].decode() for head in server.heads)


def _long_echo(size: int) -> test_http1.Answer:
    def answer(head: bytes) -> bytes:
        path = head.split(b" ", 2)[1]
        body = path + b"." * (size - len(path))
        return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    return answer


async def test_bodies_over_the_snippet_are_dropped_and_each_request_sent_once(
    client: http1.Client, server: KeepAliveServer
) -> None:
    await _get(client, server, "/first")
    server.answer = _long_echo(5000)  # over the 1,024-byte snippet
    snippets = await _many(client, server, 4)
    assert [s[:2] for s in snippets] == [b"/0", b"/1", b"/2", b"/3"]
    assert all(len(s) == 1024 for s in snippets)
    assert _paths(server) == Counter({"/first": 1, "/0": 1, "/1": 1, "/2": 1, "/3": 1})
    assert (await _get(client, server, "/after")).snippet[:6] == b"/after"


async def test_requests_behind_a_body_over_the_drain_limit_are_not_sent_again(
    client: http1.Client, server: KeepAliveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http1_conn, "DRAIN_BYTES", 4096)
    await _get(client, server, "/first")
    server.answer = _long_echo(64 * 1024)
    done = await asyncio.gather(
        *(_get(client, server, f"/{i}") for i in range(3)), return_exceptions=True
    )
    assert isinstance(done[0], http1.Response)
    assert all(isinstance(d, http1_conn.RemoteProtocolError) for d in done[1:])
    await asyncio.sleep(0.05)  # anything sent again would have arrived
    assert _paths(server)["/0"] == 1
    assert max(_paths(server).values()) == 1  # the receiver stopped reading after /0
    server.answer = _echo
    before = server.connections
    assert await _many(client, server, 2) == [b"/0", b"/1"]
    assert server.connections - before == 2  # no more pipelining to it


async def test_requests_behind_a_read_timeout_are_not_sent_again(
    server: KeepAliveServer,
) -> None:
    client = http1.Client(connect_timeout_s=1.0, read_timeout_s=0.5, keep=4, max_origins=8)
    try:
        await _get(client, server, "/first")
        stalled = asyncio.Event()

        def stall(head: bytes) -> bytes:
            if stalled.is_set():
                return b""  # the receiver is stuck on the first
            stalled.set()
            return b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\npart"  # never ends

        server.answer = stall
        done = await asyncio.gather(
            *(_get(client, server, f"/{i}") for i in range(3)), return_exceptions=True
        )
        assert stalled.is_set()
        assert isinstance(done[0], http1_conn.HTTPError)
        assert all(isinstance(d, http1_conn.RemoteProtocolError) for d in done[1:])
        assert all(
            not d.unanswered for d in done[1:] if isinstance(d, http1_conn.RemoteProtocolError)
        )
        await asyncio.sleep(0.05)
        assert _paths(server) == Counter({"/first": 1, "/0": 1, "/1": 1, "/2": 1})
    finally:
        await client.aclose()
