"""Hostile HTTP against `tracker serve`'s protocol: what a client may send to smuggle a
request, hold a connection or exhaust memory, and what it gets back."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest

from app.edge import protocol
from tests.edge.wire import Served, exchange, get, read_all, read_until_closed


async def test_content_length_with_transfer_encoding_is_refused(edge: Served) -> None:
    smuggled = (
        b"POST /postback HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /c/x HTTP/1.1\r\nHost: t\r\n\r\n"
    )
    data = await read_all(edge, smuggled)
    assert data.startswith(b"HTTP/1.1 400 ")
    assert data.count(b"HTTP/1.1") == 1  # the smuggled GET is never answered


async def test_two_content_lengths_are_refused(edge: Served) -> None:
    data = await read_all(
        edge,
        b"POST /postback HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 30\r\n\r\nx",
    )
    assert data.startswith(b"HTTP/1.1 400 ")


async def test_an_oversized_request_line_or_head_is_refused(edge: Served) -> None:
    long_url = get("/c/x?sub1=" + "a" * (protocol.MAX_HEAD_BYTES + 10))
    assert (await read_all(edge, long_url)).startswith(b"HTTP/1.1 431 ")
    many = get("/c/x", *[f"X-Pad-{i}: {'b' * 100}" for i in range(1000)])
    assert (await read_all(edge, many)).startswith(b"HTTP/1.1 431 ")


@pytest.mark.parametrize(
    "sent",
    [
        b"",  # connects and sends nothing
        b"GET /c/x HTTP/1.1\r\nHost: t\r\n",  # headers that never finish
        b"POST /postback HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n{",  # a body
    ],
)
async def test_a_slow_client_is_cut_off(edge: Served, sent: bytes, monkeypatch: Any) -> None:
    """408 after the read timeout, and the connection closed."""
    monkeypatch.setattr(protocol, "READ_TIMEOUT_S", 1.0)
    reader, writer = await asyncio.open_connection(*edge)
    writer.write(sent)
    started = time.monotonic()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert data.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started >= 0.9


async def test_an_idle_kept_alive_connection_is_closed(edge: Served, code: str) -> None:
    reader, writer = await asyncio.open_connection(*edge)
    writer.write(get(f"/c/{code}"))
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 302 ")
    # The test server's keep-alive timeout is 2 s: then the server closes.
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()


async def test_expect_100_continue_is_answered_before_the_body(edge: Served) -> None:
    reader, writer = await asyncio.open_connection(*edge)
    writer.write(
        b"POST /postback HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2\r\nExpect: 100-continue\r\n\r\n"
    )
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"{}")
    final = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    writer.close()
    assert final.startswith(b"HTTP/1.1 401 ")  # no key: a clear 4xx, the body read


async def test_a_half_closed_client_still_gets_its_redirect(edge: Served, code: str) -> None:
    """The client sends its request and shuts its side (SHUT_WR): the 302 still comes."""
    with socket.create_connection(edge, timeout=5) as sock:
        sock.sendall(get(f"/c/{code}"))
        sock.shutdown(socket.SHUT_WR)
        data = await asyncio.to_thread(read_until_closed, sock)
    assert data.startswith(b"HTTP/1.1 302 Found\r\n")


async def test_a_body_on_a_click_is_not_read_as_a_request(edge: Served, code: str) -> None:
    """A GET with a body, then a second GET: the body is skipped, two answers."""
    request = get(f"/c/{code}", "Content-Length: 26").rstrip(b"\r\n") + b"\r\n\r\n"
    request += b"GET /c/smuggled HTTP/1.1\r\n" + get(f"/c/{code}?sub1=two")
    first, second = await exchange(edge, request, responses=2)
    assert first.startswith(b"HTTP/1.1 302 ")
    assert second.startswith(b"HTTP/1.1 302 ")
    assert b"s1=two" in second


async def test_garbage_after_a_click_ends_the_connection(edge: Served, code: str) -> None:
    data = await read_all(edge, get(f"/c/{code}") + b"\x00\x01 NOT HTTP\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 302 ")
    assert b"HTTP/1.1 400 " in data


async def test_the_api_still_works_behind_the_protocol(edge: Served) -> None:
    [response] = await exchange(edge, get("/health"))
    assert response.startswith(b"HTTP/1.1 200 ")
