"""One Redis connection that runs a single Lua script with pre-encoded RESP.

The group-commit flush runs once per batch of clicks, but redis-py's command packing
and connection machinery still cost ~8% of a redirect in profiles. This writes the
EVALSHA frame itself and parses the reply with hiredis. It keeps one request in flight
(the batcher awaits each flush), and after any error or cancellation (a budget
timeout) it drops the connection, since the reply stream is then out of step.

With `wait_replicas`, each EVALSHA is followed on the same connection, in the same
write, by `WAIT <replicas> <ms>`: the reply then also says whether that many replicas
hold what the script wrote (Unreplicated when not). On a Redis Cluster URL
(app.redis) the connection goes to the master of the slot of the call's first key, and
follows the cluster's map through a MOVED reply or a failover.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections.abc import Sequence
from typing import Any

import hiredis
from redis.asyncio.connection import SSLConnection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from app.redis import cluster_url
from app.streams.cluster_slots import Address, ClusterSlots


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(value), value)


def command(*parts: bytes) -> bytes:
    return b"*%d\r\n" % len(parts) + b"".join(_bulk(p) for p in parts)


def bulks(parts: Sequence[bytes]) -> bytes:
    """`parts` as RESP bulk strings, for `ScriptConnection.run_encoded`."""
    return b"".join([b"$%d\r\n%b\r\n" % (len(p), p) for p in parts])


class Unreplicated(RedisError):
    """The script ran, but fewer replicas than asked confirmed its writes in time."""

    def __init__(self, reply: Any, confirmed: int) -> None:
        super().__init__(f"{confirmed} replica(s) confirmed the write")
        self.reply = reply
        self.confirmed = confirmed


class ScriptConnection:
    def __init__(self, url: str, script: str, *, wait_replicas: int = 0, wait_ms: int = 0) -> None:
        seed = cluster_url(url)
        self._options: dict[str, Any] = dict(parse_url(seed or url))
        self._seed: Address = (
            str(self._options.get("host", "127.0.0.1")),
            int(self._options.get("port", 6379)),
        )
        self._slots = ClusterSlots(self._seed) if seed is not None else None
        self._address: Address | None = None
        self._script = script.encode()
        self._sha = hashlib.sha1(self._script).hexdigest().encode()
        self._wait = (
            command(b"WAIT", b"%d" % wait_replicas, b"%d" % wait_ms) if wait_replicas else b""
        )
        self._wait_replicas = wait_replicas
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._parser = hiredis.Reader()

    async def _open(
        self, address: Address
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, hiredis.Reader]:
        options = self._options
        if "path" in options:
            reader, writer = await asyncio.open_unix_connection(options["path"])
        else:
            tls = (
                ssl.create_default_context()
                if options.get("connection_class") is SSLConnection
                else None
            )
            reader, writer = await asyncio.open_connection(*address, ssl=tls)
        parser = hiredis.Reader()
        handshake: list[bytes] = []
        if options.get("password"):
            auth = [b"AUTH"]
            if options.get("username"):
                auth.append(options["username"].encode())
            handshake.append(command(*auth, options["password"].encode()))
        if options.get("db") and self._slots is None:
            handshake.append(command(b"SELECT", str(options["db"]).encode()))
        try:
            for frame in handshake:
                writer.write(frame)
                if isinstance(reply := await _read(reader, parser), ResponseError):
                    raise reply
        except BaseException:
            writer.close()
            raise
        return reader, writer, parser

    async def _connect(self, address: Address) -> None:
        self._reader, self._writer, self._parser = await self._open(address)
        self._address = address

    async def _ask_slots(self, address: Address) -> Any:
        reader, writer, parser = await self._open(address)
        try:
            writer.write(command(b"CLUSTER", b"SLOTS"))
            return await _read(reader, parser)
        finally:
            writer.close()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None
        self._address = None

    async def _roundtrip(self, frame: bytes, replies: int = 1) -> list[Any]:
        assert self._reader is not None
        assert self._writer is not None
        self._writer.write(frame)
        return [await _read(self._reader, self._parser) for _ in range(replies)]

    async def _route(self, key: bytes) -> None:
        """Connect to the node `key` lives on (the one node of a plain Redis)."""
        if self._slots is None:
            if self._writer is None:
                await self._connect(self._seed)
            return
        if self._slots.stale:
            await self._slots.refresh(self._ask_slots)
        target = self._slots.node_for(key)
        if target is None:
            self._slots.forget()
            raise RedisConnectionError("no Redis Cluster master serves the slot of " + repr(key))
        if target != self._address:
            self.close()
            await self._connect(target)

    async def _call(self, frame: bytes) -> Any:
        """EVALSHA (and WAIT) once: the script's reply, or NOSCRIPT's ResponseError."""
        if not self._wait:
            [reply] = await self._roundtrip(frame)
        else:
            reply, confirmed = await self._roundtrip(frame + self._wait, 2)
            if not isinstance(reply, ResponseError) and int(confirmed) < self._wait_replicas:
                raise Unreplicated(reply, int(confirmed))
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    async def run(self, keys: list[bytes], args: list[bytes]) -> Any:
        """EVALSHA the script on `keys` with `args` (loading it once if Redis lacks it)."""
        return await self.run_encoded(keys, len(args), bulks(args))

    async def run_encoded(self, keys: list[bytes], count: int, args: bytes) -> Any:
        """`run` with its `count` arguments given as RESP bulk strings (`bulks`): the
        group commit encodes each record's once, and a link's cap arguments once."""
        frame = (
            b"*%d\r\n" % (3 + len(keys) + count)
            + bulks([b"EVALSHA", self._sha, b"%d" % len(keys), *keys])
            + args
        )
        try:
            for attempt in range(2):
                await self._route(keys[0])
                try:
                    return await self._call(frame)
                except ResponseError as exc:
                    message = str(exc)
                    if message.startswith("MOVED") and self._slots is not None and not attempt:
                        # The slot has a new master (a failover, a resharding).
                        self._slots.forget()
                        continue
                    if not message.startswith("NOSCRIPT"):
                        raise
                [loaded] = await self._roundtrip(command(b"SCRIPT", b"LOAD", self._script))
                if isinstance(loaded, ResponseError):
                    raise loaded
                return await self._call(frame)
            raise RedisConnectionError("the slot moved twice in one call")
        except Unreplicated:
            raise
        except BaseException:
            self.close()
            if self._slots is not None:
                self._slots.forget()
            raise


async def _read(reader: asyncio.StreamReader, parser: hiredis.Reader) -> Any:
    """The next reply; an error reply is returned as a ResponseError, not raised, so that
    the replies of a pipelined write stay in step."""
    while True:
        reply = parser.gets()
        if reply is not False:
            break
        data = await reader.read(65536)
        if not data:
            raise RedisConnectionError("connection closed by Redis")
        parser.feed(data)
    if isinstance(reply, hiredis.ReplyError):
        return ResponseError(str(reply))
    return reply
