"""The sender's HTTP/1.1 client against a keep-alive server on 127.0.0.1: connections
reused, chunked and interim responses read, a connection closed by the receiver replaced,
and requests that would break the framing refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from app.sender import http1

Answer = Callable[[bytes], bytes]


class KeepAliveServer:
    """Answers each request on a connection with `answer(head)`; counts connections."""

    def __init__(self) -> None:
        self.answer: Answer = lambda _: b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        self.connections = 0
        self.heads: list[bytes] = []
        self.close_after_each = False
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.heads.append(head)
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        await reader.readexactly(int(line.split(b":")[1]))
                writer.write(self.answer(head))
                await writer.drain()
                if self.close_after_each:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[KeepAliveServer]:
    instance = KeepAliveServer()
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


@pytest.fixture
async def client() -> AsyncIterator[http1.Client]:
    instance = http1.Client(connect_timeout_s=1.0, read_timeout_s=1.0, keep=4, max_origins=8)
    try:
        yield instance
    finally:
        await instance.aclose()


async def get(client: http1.Client, server: KeepAliveServer, path: str = "/") -> http1.Response:
    head = http1.request_head("GET", path, f"127.0.0.1:{server.port}", {}, None)
    origin = http1.Origin("127.0.0.1", server.port, None)
    return await client.request(origin, "GET", head, b"", snippet_bytes=1024)


async def test_requests_in_turn_share_one_connection(
    client: http1.Client, server: KeepAliveServer
) -> None:
    for _ in range(5):
        response = await get(client, server)
        assert (response.status_code, response.snippet) == (200, b"ok")
    assert server.connections == 1
    assert len(server.heads) == 5


async def test_a_post_is_one_request_with_its_length(
    client: http1.Client, server: KeepAliveServer
) -> None:
    body = b'{"a": 1}'
    head = http1.request_head("POST", "/in", "hooks.test", {"X-A": "b"}, len(body))
    origin = http1.Origin("127.0.0.1", server.port, None)
    response = await client.request(origin, "POST", head, body, snippet_bytes=1024)
    assert response.status_code == 200
    assert server.heads == [
        b"POST /in HTTP/1.1\r\nHost: hooks.test\r\nX-A: b\r\nContent-Length: 8\r\n\r\n"
    ]


async def test_chunked_and_interim_responses_are_read_and_the_connection_kept(
    client: http1.Client, server: KeepAliveServer
) -> None:
    server.answer = lambda _: (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n"
        b"Retry-After: 30\r\n\r\n4\r\nbusy\r\n7;x=y\r\n, later\r\n0\r\nX-T: 1\r\n\r\n"
    )
    for _ in range(2):
        response = await get(client, server)
        assert (response.status_code, response.snippet) == (503, b"busy, later")
        assert response.headers["retry-after"] == "30"
    assert server.connections == 1


async def test_a_body_longer_than_the_snippet_is_cut_and_its_connection_dropped(
    client: http1.Client, server: KeepAliveServer
) -> None:
    server.answer = lambda _: b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"z" * 5000
    response = await get(client, server)
    assert response.snippet == b"z" * 1024
    await get(client, server)
    assert server.connections == 2


async def test_connection_close_and_http10_are_not_kept(
    client: http1.Client, server: KeepAliveServer
) -> None:
    server.answer = lambda _: b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    await get(client, server)
    server.answer = lambda _: b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"
    await get(client, server)
    await get(client, server)
    assert server.connections == 3


async def test_a_kept_connection_the_receiver_closed_is_replaced(
    client: http1.Client, server: KeepAliveServer
) -> None:
    server.close_after_each = True  # closes after answering, without saying so
    for _ in range(3):
        assert (await get(client, server)).status_code == 200
    assert server.connections == 3
    assert len(server.heads) == 3  # each request reached the server once


async def test_a_receiver_hanging_up_without_answering_is_an_error(
    client: http1.Client, server: KeepAliveServer
) -> None:
    server.answer = lambda _: b""
    server.close_after_each = True
    with pytest.raises(http1.RemoteProtocolError, match="without sending a response"):
        await get(client, server)


async def test_garbage_is_a_protocol_error(client: http1.Client, server: KeepAliveServer) -> None:
    server.answer = lambda _: b"SSH-2.0-OpenSSH_9.6\r\n\r\n"
    with pytest.raises(http1.RemoteProtocolError, match="not an HTTP/1 response"):
        await get(client, server)


async def test_a_silent_receiver_is_a_read_timeout(server: KeepAliveServer) -> None:
    server.answer = lambda _: b"HTTP/1.1 200 OK\r\n"  # the head never ends
    client = http1.Client(connect_timeout_s=1.0, read_timeout_s=0.2, keep=1, max_origins=1)
    try:
        with pytest.raises(http1.ReadTimeout):
            await get(client, server)
    finally:
        await client.aclose()


async def test_nothing_listening_is_a_connect_error(client: http1.Client) -> None:
    origin = http1.Origin("127.0.0.1", 9, None)
    head = http1.request_head("GET", "/", "127.0.0.1:9", {}, None)
    with pytest.raises(http1.ConnectError):
        await client.request(origin, "GET", head, b"", snippet_bytes=10)


@pytest.mark.parametrize(
    ("target", "host", "headers"),
    [
        ("/a\r\nX-Injected: 1", "h.test", {}),
        ("/a b", "h.test", {}),
        ("/", "h.test\r\nX: 1", {}),
        ("/", "h.test", {"X-Sig": "v1\nX-Injected: 1"}),
        ("/", "h.test", {"X-Sig": "nul\0"}),
    ],
)
def test_requests_that_would_break_the_framing_are_refused(
    target: str, host: str, headers: dict[str, str]
) -> None:
    with pytest.raises(http1.InvalidURL):
        http1.request_head("GET", target, host, headers, None)


def test_the_target_is_percent_encoded_as_sent() -> None:
    assert http1.request_target("", "") == "/"
    assert http1.request_target("/pb/é s", "q=a b&x=%41") == "/pb/%C3%A9%20s?q=a%20b&x=%41"
