"""The link cache's freshness: a link redirects in every web process from the moment its
create (or re-activation) call returns, and unknown codes cost no database query."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.main import create_app
from app.redirect.cache import LinkCache
from app.settings import Settings
from tests.helpers import create

OFFER_URL = "https://shop.example/landing?cid={click_id}"
FALLBACK = "https://shop.example/"


@asynccontextmanager
async def web_process(settings: Settings, data_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """One app instance with its own lifespan, on the shared PostgreSQL and Redis. Its
    watcher never ticks during a test, so only the miss path can bring a change in."""
    app = create_app(
        settings.model_copy(
            update={
                "catalog_poll_ms": 3_600_000,
                "catalog_ttl_s": 3_600,
                "tracker_data_dir": data_dir,
            }
        )
    )
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tracker.test") as c:
            c.app = app  # type: ignore[attr-defined]
            yield c


def cache_of(client: httpx.AsyncClient) -> LinkCache:
    app: FastAPI = client.app  # type: ignore[attr-defined]
    cache: LinkCache = app.state.redirector.cache
    return cache


@asynccontextmanager
async def two_processes(
    settings: Settings, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    async with (
        web_process(settings, tmp_path / "first") as first,
        web_process(settings, tmp_path / "second") as second,
    ):
        yield first, second


async def offer_and_affiliate(client: httpx.AsyncClient, admin: dict[str, str]) -> tuple[int, int]:
    advertiser = await create(client, "advertisers", {"name": "Acme"}, admin)
    offer = await create(
        client,
        "offers",
        {
            "advertiser_id": advertiser["id"],
            "name": "Shoes",
            "url": OFFER_URL,
            "fallback_url": FALLBACK,
        },
        admin,
    )
    affiliate = await create(client, "affiliates", {"name": "Alice"}, admin)
    return offer["id"], affiliate["id"]


async def goes_to(client: httpx.AsyncClient, code: str) -> str | None:
    """Where a click on the code goes: the Location without the click ID, or None on 404."""
    response = await client.get(f"/c/{code}")
    if response.status_code == 404:
        return None
    assert response.status_code == 302, response.text
    return response.headers["location"].split("?cid=")[0]


async def test_a_new_link_redirects_in_another_process_as_soon_as_its_create_returns(
    settings: Settings, tmp_path: Path, admin: dict[str, str]
) -> None:
    async with two_processes(settings, tmp_path) as (first, second):
        offer_id, affiliate_id = await offer_and_affiliate(first, admin)
        for _ in range(20):
            link = await create(
                first, "links", {"affiliate_id": affiliate_id, "offer_id": offer_id}, admin
            )
            # No sleep, no refresh: the click follows the create's response at once.
            assert await goes_to(second, link["code"]) == "https://shop.example/landing"
            assert await goes_to(first, link["code"]) == "https://shop.example/landing"


async def test_reactivated_links_offers_and_affiliates_redirect_at_once_in_another_process(
    settings: Settings, tmp_path: Path, admin: dict[str, str]
) -> None:
    async with two_processes(settings, tmp_path) as (first, second):
        offer_id, affiliate_id = await offer_and_affiliate(first, admin)
        link = await create(
            first, "links", {"affiliate_id": affiliate_id, "offer_id": offer_id}, admin
        )
        code = link["code"]
        for path, off, on in (
            (f"links/{link['id']}", {"status": "archived"}, {"status": "active"}),
            (f"offers/{offer_id}", {"status": "paused"}, {"status": "active"}),
            (f"affiliates/{affiliate_id}", {"status": "paused"}, {"status": "active"}),
        ):
            response = await first.patch(f"/api/v1/{path}", json=off, headers=admin)
            assert response.status_code == 200, response.text
            assert await cache_of(second).refresh_if_changed() is True
            assert await goes_to(second, code) == FALLBACK, path
            response = await first.patch(f"/api/v1/{path}", json=on, headers=admin)
            assert response.status_code == 200, response.text
            assert await goes_to(second, code) == "https://shop.example/landing", path


async def test_a_flood_of_unknown_codes_reads_postgres_once_per_catalog_change_at_most(
    settings: Settings, tmp_path: Path, admin: dict[str, str]
) -> None:
    async with web_process(settings, tmp_path / "web") as client:
        cache = cache_of(client)
        offer_id, affiliate_id = await offer_and_affiliate(client, admin)
        await cache.load()
        loads = cache.db_loads

        async def flood(extra: list[str]) -> list[int]:
            codes = [secrets.token_urlsafe(8) for _ in range(300)] + extra
            responses = await asyncio.gather(*(client.get(f"/c/{c}") for c in codes))
            return [r.status_code for r in responses]

        # The catalog did not change: 300 concurrent misses, no read of PostgreSQL.
        assert set(await flood([])) == {404}
        assert cache.db_loads == loads

        # One change: the whole flood shares one load of it, and finds the new link.
        link = await create(
            client, "links", {"affiliate_id": affiliate_id, "offer_id": offer_id}, admin
        )
        statuses = await flood([link["code"]])
        assert set(statuses[:-1]) == {404}
        assert statuses[-1] == 302
        assert cache.db_loads == loads + 1
        assert set(await flood([])) == {404}
        assert cache.db_loads == loads + 1


async def test_unknown_code_hits_show_in_metrics(
    app: FastAPI, client: httpx.AsyncClient, catalog: dict[str, Any], admin: dict[str, str]
) -> None:
    cache: LinkCache = app.state.redirector.cache
    await cache.load()
    archived = catalog["bob_link"]
    assert (await client.delete(f"/api/v1/links/{archived['id']}", headers=admin)).status_code
    for code in ("nope-1", "nope-2", "nope-3"):
        assert (await client.get(f"/c/{code}")).status_code == 404
    # Known codes, plain or diverted to the fallback, are no unknown hits.
    assert (await client.get(f"/c/{catalog['alice_link']['code']}")).status_code == 302
    assert (await client.get(f"/c/{archived['code']}")).status_code == 302
    await cache.counters.flush()
    text = (await client.get("/metrics")).text
    assert re.search(r"^tracker_redirect_unknown_code_total 3$", text, re.M), text


async def test_a_change_of_caps_alone_reaches_the_cache(
    app: FastAPI, client: httpx.AsyncClient, catalog: dict[str, Any], admin: dict[str, str]
) -> None:
    cache: LinkCache = app.state.redirector.cache
    await cache.load()
    code = catalog["alice_link"]["code"]
    target = cache.get(code)
    assert target is not None
    assert target.caps == ()
    response = await client.patch(
        f"/api/v1/offers/{catalog['offer']['id']}",
        json={"caps": [{"metric": "clicks", "period": "day", "limit": 5}]},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    loads = cache.db_loads
    assert await cache.refresh_if_changed() is True
    assert cache.db_loads == loads + 1
    target = cache.get(code)
    assert target is not None
    assert [c.limit for c in target.caps] == [5]


async def test_a_miss_with_redis_unreachable_is_a_404_from_the_cache_as_it_is(
    app: FastAPI, client: httpx.AsyncClient, catalog: dict[str, Any]
) -> None:
    from redis.asyncio import Redis

    cache: LinkCache = app.state.redirector.cache
    await cache.load()
    loads = cache.db_loads
    unreachable = Redis.from_url("redis://127.0.0.1:1", socket_connect_timeout=1)
    cache._redis, reachable = unreachable, cache._redis
    try:
        assert (await client.get("/c/nope-nope")).status_code == 404
        assert (await client.get(f"/c/{catalog['alice_link']['code']}")).status_code == 302
    finally:
        cache._redis = reachable
        await unreachable.aclose()
    assert cache.db_loads == loads
