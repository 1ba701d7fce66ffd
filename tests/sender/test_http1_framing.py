"""How the sender's HTTP/1.1 client (llhttp via httptools) frames responses: HEAD, 204 and
304 without a body, a body ending with the connection, one cut short, the cap on the head,
and what keeps a connection."""

from __future__ import annotations

import pytest

from app.sender import http1
from tests.sender import test_http1
from tests.sender.test_http1 import KeepAliveServer, get

# The keep-alive receiver and the client, as test_http1 makes them.
server = test_http1.server
client = test_http1.client


async def test_a_head_response_has_no_body_whatever_its_length(
    client: http1.Client, server: KeepAliveServer
) -> None:
    server.answer = lambda _: b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
    head = http1.request_head("HEAD", "/", "h.test", {}, None)
    origin = http1.Origin("127.0.0.1", server.port, None)
    response = await client.request(origin, "HEAD", head, b"", snippet_bytes=1024)
    assert (response.status_code, response.snippet) == (200, b"")
    assert response.headers["content-length"] == "100"


@pytest.mark.parametrize("status", [b"204 No Content", b"304 Not Modified"])
async def test_204_and_304_have_no_body_and_keep_the_connection(
    client: http1.Client, server: KeepAliveServer, status: bytes
) -> None:
    server.answer = lambda _: b"HTTP/1.1 " + status + b"\r\nContent-Length: 7\r\n\r\n"
    for _ in range(2):
        assert (await get(client, server)).snippet == b""
    assert server.connections == 1


async def test_a_body_as_long_as_the_snippet_keeps_the_connection(
    client: http1.Client, server: KeepAliveServer
) -> None:
    server.answer = lambda _: b"HTTP/1.1 200 OK\r\nContent-Length: 1024\r\n\r\n" + b"y" * 1024
    for _ in range(2):
        assert (await get(client, server)).snippet == b"y" * 1024
    assert server.connections == 1


async def test_repeated_headers_are_joined_and_trailers_left_out(
    client: http1.Client, server: KeepAliveServer
) -> None:
    server.answer = lambda _: (
        b"HTTP/1.1 200 OK\r\nVary: a\r\nVARY:  b \r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\nok\r\n0\r\nX-Trailer: 1\r\n\r\n"
    )
    response = await get(client, server)
    assert response.headers["vary"] == "a, b"
    assert "x-trailer" not in response.headers
    assert response.snippet == b"ok"


async def test_a_body_without_length_ends_with_the_connection(
    client: http1.Client, server: KeepAliveServer
) -> None:
    server.answer = lambda _: b"HTTP/1.1 200 OK\r\n\r\nuntil close"
    server.close_after_each = True
    assert (await get(client, server)).snippet == b"until close"


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nshort\r\n",
    ],
)
async def test_a_body_cut_short_is_a_protocol_error(
    client: http1.Client, server: KeepAliveServer, answer: bytes
) -> None:
    server.answer = lambda _: answer
    server.close_after_each = True
    with pytest.raises(http1.RemoteProtocolError, match="before the end of the body"):
        await get(client, server)


async def test_a_head_over_the_cap_is_refused_before_it_ends(
    client: http1.Client, server: KeepAliveServer
) -> None:
    server.answer = lambda _: b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"p" * http1.MAX_HEAD_BYTES * 2
    with pytest.raises(http1.RemoteProtocolError, match="head too long"):
        await get(client, server)


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n",
    ],
)
async def test_a_malformed_head_is_a_protocol_error(
    client: http1.Client, server: KeepAliveServer, answer: bytes
) -> None:
    server.answer = lambda _: answer
    with pytest.raises(http1.RemoteProtocolError, match="not an HTTP/1 response"):
        await get(client, server)


async def test_a_switching_protocols_answer_is_not_kept(
    client: http1.Client, server: KeepAliveServer
) -> None:
    server.answer = lambda _: b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"
    for _ in range(2):
        assert (await get(client, server)).status_code == 101
    assert server.connections == 2
