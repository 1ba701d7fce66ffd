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


async def test_ready_counts_the_workers_whose_health_key_is_live(
    client: httpx.AsyncClient, settings: Settings, redis: Redis
) -> None:
    assert (await client.get("/ready")).json()["workers"] == 0
    await worker.run(settings, burst=True)
    # The key outlives the run by its TTL: a worker that just stopped still counts.
    assert await health.alive(redis, "worker") == 1
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json()["workers"] == 1
    # Another role's keys are not workers.
    await health.beat(redis, "sender")
    assert (await client.get("/ready")).json()["workers"] == 1
