import httpx


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
