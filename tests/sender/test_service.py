"""`tracker sender` as a process: its health key while it runs."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from app.ops import health
from app.sender import service as sender_service
from app.settings import Settings
from tests.sender.conftest import Rows
from tests.sender.receiver import Receiver, Reply


async def test_a_running_sender_is_counted_alive_until_it_stops(
    sender_settings: Settings, receiver: Receiver, rows: Rows, redis: Redis
) -> None:
    release = asyncio.Event()
    receiver.handler = lambda _: Reply(wait=release)
    await rows.delivery(receiver.base_url + "/pb")
    settings = sender_settings.model_copy(update={"sender_read_timeout_s": 30.0})
    assert await health.alive(redis, sender_service.ROLE) == 0

    running = asyncio.create_task(sender_service.run(settings, burst=True))
    try:
        await receiver.wait_for(lambda got: len(got) == 1)
        assert await health.alive(redis, sender_service.ROLE) == 1
        assert await redis.get(health.key(sender_service.ROLE)) == b"sent=0 failed=0"
    finally:
        release.set()
        await running

    assert await health.alive(redis, sender_service.ROLE) == 0
