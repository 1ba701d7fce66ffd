import asyncio

import httpx
from redis.asyncio import Redis

from app import worker
from app.ops import health
from app.settings import Settings


async def test_health_answers_without_a_key(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_checks_postgres_and_redis(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json()["checks"] == {"postgres": "ok", "redis": "ok"}
    assert response.json()["stream_lag"] == {
        "clicks:{0}": 0,
        "clicks:{1}": 0,
        "conversions:{0}": 0,
        "conversions:{1}": 0,
    }
    assert (await client.get("/api/v1/ready")).status_code == 200


async def test_ready_counts_live_senders_without_needing_one(
    client: httpx.AsyncClient, redis: Redis
) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json()["senders"] == 0

    await health.beat(redis, "sender")
    assert (await client.get("/ready")).json()["senders"] == 1

    await health.retire(redis, "sender")
    assert (await client.get("/ready")).json()["senders"] == 0


async def test_health_key_has_a_ttl_and_a_lapsed_one_is_not_counted(redis: Redis) -> None:
    await health.beat(redis, "sender", info="sent=3 failed=0")
    name = health.key("sender")
    assert await redis.get(name) == b"sent=3 failed=0"
    assert 0 < await redis.ttl(name) <= health.TTL_S
    assert await health.alive(redis, "sender") == 1
    assert await health.alive(redis, "worker") == 0

    await redis.delete(name)  # stands in for the TTL running out

    assert await health.alive(redis, "sender") == 0
    assert await redis.smembers("health:{sender}") == set()


async def test_ready_counts_the_workers_whose_health_key_is_live(
    client: httpx.AsyncClient, settings: Settings, redis: Redis
) -> None:
    assert (await client.get("/ready")).json()["workers"] == 0
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(settings, stop=stop))
    for _ in range(500):  # the worker beats once it has opened its pool and Redis
        if await health.alive(redis, "worker"):
            break
        await asyncio.sleep(0.02)
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json()["workers"] == 1
    # Another role's keys are not workers.
    await health.beat(redis, "sender")
    assert (await client.get("/ready")).json()["workers"] == 1
    stop.set()
    await running
    # A worker that stops retires its key at once.
    assert (await client.get("/ready")).json()["workers"] == 0
