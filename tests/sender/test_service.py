"""`tracker sender` as a process: its health key while it runs, and several processes."""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter

from redis.asyncio import Redis

from app.ops import health
from app.sender import service as sender_service
from app.sender.attempt import DELIVERY_HEADER
from app.sender.receivers import AHEAD
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


async def test_sender_processes_share_the_outbox(
    sender_settings: Settings, receiver: Receiver, rows: Rows, redis: Redis
) -> None:
    release = asyncio.Event()
    receiver.handler = lambda _: Reply(wait=release)
    # More rows than two processes claim ahead (AHEAD per slot): the one that starts first
    # cannot take them all and leave the other nothing to do (in burst mode it would exit).
    concurrency = 4
    count = 2 * AHEAD * concurrency + 10
    ids = [await rows.delivery(receiver.base_url + f"/pb/{i}") for i in range(count)]
    database_url, redis_url = sender_settings.require_urls()
    env = os.environ | {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "TRACKER_DATA_DIR": str(sender_settings.tracker_data_dir),
        "MIGRATE_ON_START": "false",
        "SENDER_ALLOWED_NETWORKS": '["127.0.0.0/8"]',
        "SENDER_CONCURRENCY": str(concurrency),
        "SENDER_READ_TIMEOUT_S": "30",
    }
    command = [sys.executable, "-m", "app.cli", "sender", "--processes", "2", "--burst"]
    process = await asyncio.create_subprocess_exec(*command, env=env)
    try:
        # Two senders hold requests open at once: two processes, each with its key (a
        # single process would never get there: the bound makes that a failure).
        async with asyncio.timeout(30):
            while await health.alive(redis, sender_service.ROLE) < 2:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    finally:
        release.set()
        code = await asyncio.wait_for(process.wait(), 60)

    assert code == 0
    sent = Counter(r.headers[DELIVERY_HEADER.lower()] for r in receiver.received)
    assert sent == Counter({str(i): 1 for i in ids})
    for i in ids:
        assert (await rows.get(i))["status"] == "delivered"
