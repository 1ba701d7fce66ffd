"""Raw HTTP/1.1 over a socket: what a client sends and gets, byte for byte."""

from __future__ import annotations

import asyncio
import re
import socket

Served = tuple[str, int]


def get(path: str, *extra: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: t", "User-Agent: probe", *extra, "", ""]
    return "\r\n".join(lines).encode()


async def exchange(served: Served, data: bytes, *, responses: int = 1) -> list[bytes]:
    """Send `data` on one connection; the raw responses read back (heads and bodies)."""
    reader, writer = await asyncio.open_connection(*served)
    writer.write(data)
    await writer.drain()
    got: list[bytes] = []
    try:
        for _ in range(responses):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            length = re.search(rb"content-length: (\d+)", head)
            body = await reader.readexactly(int(length.group(1))) if length else b""
            got.append(head + body)
    finally:
        writer.close()
    return got


async def read_all(served: Served, data: bytes, *, within_s: float = 5) -> bytes:
    """Send `data`, then read until the server closes the connection (in `within_s`)."""
    reader, writer = await asyncio.open_connection(*served)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), within_s)
    finally:
        writer.close()


def normal(response: bytes) -> bytes:
    """A response with its click ID and date made constant."""
    response = re.sub(rb"[0-9a-v]{26}", b"<click>", response)
    return re.sub(rb"date: [^\r]*", b"date: <date>", response)


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything a blocking socket receives until the server closes (run in a thread)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)
