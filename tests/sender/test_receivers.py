"""Receivers' shares of the slots: a slow receiver delays its own deliveries only."""

from __future__ import annotations

import asyncio

import asyncpg

from app.sender.engine import Sender
from app.settings import Settings
from tests.sender.conftest import Rows
from tests.sender.receiver import Receiver, Reply

DELIVERED = "SELECT count(*) FROM deliveries WHERE status = 'delivered'"


async def test_slow_receiver_does_not_take_every_slot(
    pool: asyncpg.Pool, sender_settings: Settings, rows: Rows
) -> None:
    slow, fast = Receiver(), Receiver()
    await slow.start()
    await fast.start()
    release = asyncio.Event()
    slow.handler = lambda _: Reply(wait=release)
    settings = sender_settings.model_copy(
        update={"sender_concurrency": 4, "sender_read_timeout_s": 30.0}
    )
    instance = Sender(pool, settings)
    stop = asyncio.Event()
    try:
        for i in range(8):
            await rows.delivery(slow.base_url + f"/slow/{i}")
        for i in range(8):
            await rows.delivery(fast.base_url + f"/fast/{i}")
        running = asyncio.create_task(instance.run(stop=stop))
        # Every fast delivery arrives while the slow receiver holds its requests.
        await fast.wait_for(lambda got: len(got) == 8)
        assert len(slow.received) <= 2  # half of the 4 slots
        release.set()
        await slow.wait_for(lambda got: len(got) == 8)
        stop.set()
        await running
    finally:
        release.set()
        await instance.aclose()
        await slow.stop()
        await fast.stop()
    assert await pool.fetchval(DELIVERED) == 16
