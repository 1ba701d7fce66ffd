from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.main import create_app
from app.partners import apply as apply_service
from app.settings import Settings
from tests.helpers import assert_error

APPLICATION = {
    "name": "Carol",
    "email": "carol@aff.example",
    "website": "https://carol.example/blog",
    "traffic_sources": "SEO, newsletter",
    "message": "Hello",
    "terms_version": "2026-11",
}


async def snapshot(pool: asyncpg.Pool) -> list[list[asyncpg.Record]]:
    return [
        await pool.fetch(f"SELECT * FROM {table} ORDER BY id")
        for table in ("affiliates", "affiliate_history")
    ]


async def test_a_json_application_makes_an_applied_affiliate(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    response = await client.post("/apply", json=APPLICATION)

    assert response.status_code == 202
    assert response.json() == {"status": "received"}
    page = (await client.get("/api/v1/affiliates", headers=admin)).json()
    [affiliate] = page["items"]
    assert affiliate["status"] == "applied"
    assert (affiliate["name"], affiliate["email"], affiliate["website"]) == (
        "Carol",
        "carol@aff.example",
        "https://carol.example/blog",
    )
    application = affiliate["application"]
    assert {k: application[k] for k in ("traffic_sources", "message", "terms_version")} == {
        "traffic_sources": "SEO, newsletter",
        "message": "Hello",
        "terms_version": "2026-11",
    }
    assert application["applied_at"]


async def test_a_form_application_is_taken_the_same(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    response = await client.post("/apply", data={**APPLICATION, "website": ""})

    assert response.status_code == 202
    row = await pool.fetchrow("SELECT status, email, website, application FROM affiliates")
    assert row is not None
    assert (row["status"], row["email"], row["website"]) == ("applied", "carol@aff.example", None)
    assert row["application"]["traffic_sources"] == "SEO, newsletter"


async def test_a_registered_email_gets_the_same_answer_and_no_second_affiliate(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    admin_made = await client.post(
        "/api/v1/affiliates", json={"name": "Dave", "email": "dave@aff.example"}, headers=admin
    )
    assert admin_made.status_code == 201
    first = await client.post("/apply", json={**APPLICATION, "email": "new@aff.example"})
    before = await snapshot(pool)

    answers = [
        await client.post("/apply", json={**APPLICATION, "email": "new@aff.example"}),
        await client.post("/apply", json={**APPLICATION, "email": "DAVE@aff.example"}),
        await client.post("/apply", data={**APPLICATION, "email": "dave@aff.example"}),
    ]

    for answer in answers:
        assert (answer.status_code, answer.content) == (first.status_code, first.content)
        assert set(answer.headers) == set(first.headers)
    assert await snapshot(pool) == before


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"email": "carol@aff.example"}, 400),
        ({"name": "Carol"}, 400),
        ({"name": "Carol", "email": "not-an-email"}, 400),
        ({"name": "", "email": "carol@aff.example"}, 400),
        ({**APPLICATION, "website": "javascript:alert(1)"}, 400),
        ({**APPLICATION, "message": "x" * 5001}, 400),
        ({**APPLICATION, "extra": "field"}, 400),
        ({**APPLICATION, "name": 5}, 400),
    ],
)
async def test_bad_json_is_a_400_and_stores_nothing(
    client: httpx.AsyncClient, pool: asyncpg.Pool, body: dict[str, Any], status: int
) -> None:
    assert_error(await client.post("/apply", json=body), status, "invalid_request")
    assert await snapshot(pool) == [[], []]


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b"name=Carol", "text/plain", 415),
        (b"name=Carol&email=%FF%FE", "application/x-www-form-urlencoded", 400),
        (b"x" * 70_000, "application/json", 413),
    ],
)
async def test_unreadable_bodies_are_4xx(
    client: httpx.AsyncClient,
    pool: asyncpg.Pool,
    content: bytes,
    content_type: str,
    status: int,
) -> None:
    response = await client.post("/apply", content=content, headers={"content-type": content_type})
    assert_error(response, status)
    assert await snapshot(pool) == [[], []]


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app behind a trusted proxy at 127.0.0.1, three applications an hour per address."""
    application = create_app(
        settings.model_copy(update={"apply_rate_per_hour": 3, "trusted_proxies": ["127.0.0.1"]})
    )
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            yield c


async def test_applications_are_limited_per_client_address(
    limited: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    def sent_by(ip: str, n: int) -> dict[str, Any]:
        return {
            "json": {**APPLICATION, "email": f"a{n}.{ip.replace('.', '-')}@aff.example"},
            "headers": {"X-Forwarded-For": f"198.51.100.77, {ip}"},
        }

    answers = [(await limited.post("/apply", **sent_by("203.0.113.5", n))) for n in range(4)]

    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    assert_error(answers[-1], 429, "rate_limited")
    assert 1 <= int(answers[-1].headers["retry-after"]) <= 3600
    # Another address (the proxy's nearest untrusted hop) has its own count.
    assert (await limited.post("/apply", **sent_by("203.0.113.6", 9))).status_code == 202
    assert await pool.fetchval("SELECT count(*) FROM affiliates") == 4


def test_the_rate_window_is_the_clock_hour_and_ipv6_counts_by_its_64() -> None:
    assert apply_service.rate_subject("2001:db8:1:2:aa::1") == "2001:db8:1:2::"
    assert apply_service.rate_subject("2001:db8:1:2:bb::9") == "2001:db8:1:2::"
    assert apply_service.rate_subject("203.0.113.5") == "203.0.113.5"
    assert apply_service.rate_subject("garbage") == "unknown"
