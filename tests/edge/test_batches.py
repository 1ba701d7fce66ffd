"""One pass per group-commit batch: the front protocol's clicks are answered from their
batch's callback, only once Redis has answered the batch (or the spool holds each)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from app.edge.front import FrontProtocol
from app.main import TrackerApp
from app.settings import Settings
from app.streams.durable_queue import DurableQueue
from app.streams.script_connection import ScriptConnection
from tests.edge.wire import Served, get

CLICKS_BEHIND = 4


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.stream_shards = 1  # one batcher: the batches below are the only ones
    return settings


class Held:
    """Every script call waits for `gate`, and `failing` ones fail (Redis down)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[str] = []
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()
        self.queued = asyncio.Event()
        self.failing = False
        run, answer, submit_then = (
            ScriptConnection.run_encoded,
            FrontProtocol._answer,
            DurableQueue.submit_then,
        )

        async def held_run(
            connection: ScriptConnection, keys: list[bytes], count: int, args: bytes
        ) -> Any:
            self.events.append("flush")
            self.entered.set()
            await self.gate.wait()
            if self.failing:
                self.events.append("failed")
                raise OSError("Redis is down")
            reply = await run(connection, keys, count, args)
            self.events.append("flushed")
            return reply

        def logged_answer(protocol: FrontProtocol, response: bytes) -> None:
            self.events.append("answer")
            answer(protocol, response)

        def logged_submit(
            queue: DurableQueue, record: bytes, then: Callable[..., object], **kw: Any
        ) -> None:
            self.events.append("queued")
            if self.events.count("queued") == 1 + CLICKS_BEHIND:
                self.queued.set()
            submit_then(queue, record, then, **kw)

        monkeypatch.setattr(ScriptConnection, "run_encoded", held_run)
        monkeypatch.setattr(FrontProtocol, "_answer", logged_answer)
        monkeypatch.setattr(DurableQueue, "submit_then", logged_submit)


async def _click(front: Served, code: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(*front)
    writer.write(get(f"/c/{code}"))
    await writer.drain()
    return reader, writer


async def _clicks_behind_a_held_batch(
    front: Served, code: str, held: Held
) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """One click whose batch is in flight (held), and CLICKS_BEHIND queued behind it."""
    connections = [await _click(front, code)]
    await held.entered.wait()
    connections += [await _click(front, code) for _ in range(CLICKS_BEHIND)]
    await held.queued.wait()
    assert "answer" not in held.events  # nothing is answered while its batch is in flight
    return connections


async def _heads(
    connections: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]],
) -> list[bytes]:
    heads = []
    for reader, writer in connections:
        heads.append(await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10))
        writer.close()
    return heads


async def test_a_batchs_clicks_are_answered_in_one_pass_after_its_commit(
    front: Served, code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = Held(monkeypatch)
    connections = await _clicks_behind_a_held_batch(front, code, held)
    held.gate.set()
    heads = await _heads(connections)
    assert all(head.startswith(b"HTTP/1.1 302 Found\r\n") for head in heads)
    assert held.events == [
        "queued",
        "flush",
        *["queued"] * CLICKS_BEHIND,
        "flushed",
        "answer",
        "flush",  # the four behind: one batch, answered together once Redis took it
        "flushed",
        *["answer"] * CLICKS_BEHIND,
    ]


async def test_a_failed_commit_answers_each_of_its_clicks_from_the_spool(
    app: TrackerApp, front: Served, code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = Held(monkeypatch)
    connections = await _clicks_behind_a_held_batch(front, code, held)
    held.failing = True
    held.gate.set()
    heads = await _heads(connections)
    assert all(head.startswith(b"HTTP/1.1 302 Found\r\n") for head in heads)
    assert held.events[: 3 + CLICKS_BEHIND] == [
        "queued",
        "flush",
        *["queued"] * CLICKS_BEHIND,
        "failed",
    ]
    assert held.events.index("answer") > held.events.index("failed")  # the spool's fsync first
    assert held.events.count("answer") == 1 + CLICKS_BEHIND
    queue = app.redirector.queue
    assert queue.spooled == 1 + CLICKS_BEHIND
    held.failing = False
    assert await queue.replay() == 1 + CLICKS_BEHIND
