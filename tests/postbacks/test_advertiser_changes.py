"""Issue 11: a signing secret or IP allowlist changed through the API is in force for the
very next postback in every web process, not after its next poll: the stream refuses a
record judged at an old catalog version (app.postbacks.freshness), a 4xx is checked
against a fresh version, and either way the postback is judged again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from redis.asyncio import Redis

from app import signing
from app.catalog.service import CATALOG_VERSION_KEY
from app.clickid import new_click_id
from app.settings import Settings
from tests.helpers import assert_error, create

SECRET = "the-advertiser-secret-01"


@pytest.fixture
async def other_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """A second web process whose caches never poll on their own (within a test)."""
    from app.main import create_app

    # Its Redis budget is generous: on a loaded test machine a version read past the 50 ms
    # default would (by design) fall back to the cache as it is.
    slow = settings.model_copy(
        update={"catalog_poll_ms": 3_600_000, "catalog_ttl_s": 3600, "redis_budget_ms": 5000}
    )
    application = create_app(slow)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def other(other_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=other_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://tracker.test") as c:
        yield c


async def send(
    client: httpx.AsyncClient, token: str, *, secret: str | None = None
) -> httpx.Response:
    body = orjson.dumps({"token": token, "click_id": new_click_id()[0], "txid": "T"})
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Signature"] = signing.sign(secret, int(time.time()), body)
    return await client.post("/postback", content=body, headers=headers)


async def test_a_secret_set_changed_and_removed_through_the_api_applies_at_once(
    client: httpx.AsyncClient, other: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    advertiser = await create(client, "advertisers", {"name": "Acme"}, admin)
    token, url = advertiser["postback_token"], f"/api/v1/advertisers/{advertiser['id']}"
    assert (await send(other, token)).status_code == 200  # the other process knows it

    await client.patch(url, json={"signing_secret": SECRET}, headers=admin)
    assert_error(await send(other, token), 401, "invalid_signature")
    assert (await send(other, token, secret=SECRET)).status_code == 200

    await client.patch(url, json={"signing_secret": SECRET + "-new"}, headers=admin)
    assert_error(await send(other, token, secret=SECRET), 401, "invalid_signature")
    assert (await send(other, token, secret=SECRET + "-new")).status_code == 200

    await client.patch(url, json={"signing_secret": None}, headers=admin)
    assert (await send(other, token)).status_code == 200


async def test_an_allowlist_and_a_token_rotation_apply_at_once(
    client: httpx.AsyncClient, other: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    advertiser = await create(client, "advertisers", {"name": "Acme"}, admin)
    token, url = advertiser["postback_token"], f"/api/v1/advertisers/{advertiser['id']}"
    assert (await send(other, token)).status_code == 200
    # httpx's ASGI transport reports the client as 127.0.0.1.
    await client.patch(url, json={"ip_allowlist": ["203.0.113.0/24"]}, headers=admin)
    assert_error(await send(other, token), 403, "address_not_allowed")
    await client.patch(url, json={"ip_allowlist": ["127.0.0.0/8"]}, headers=admin)
    assert (await send(other, token)).status_code == 200

    rotated = (await client.post(f"{url}/rotate-token", headers=admin)).json()
    assert_error(await send(other, token), 401, "invalid_token")
    assert (await send(other, rotated["postback_token"])).status_code == 200


async def test_a_secret_set_at_creation_applies_to_its_first_postback(
    client: httpx.AsyncClient, other: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    made: dict[str, Any] = await create(
        client, "advertisers", {"name": "Signed", "signing_secret": SECRET}, admin
    )
    assert_error(await send(other, made["postback_token"]), 401, "invalid_signature")
    assert (await send(other, made["postback_token"], secret=SECRET)).status_code == 200


async def test_concurrent_stale_postbacks_share_version_checks(
    other_app: FastAPI,
    other: httpx.AsyncClient,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    redis: Redis,
) -> None:
    """A postback judged right costs no version check; 50 refused at once by the stream
    (the version moved before they were queued) share a few checks to be judged again."""
    advertiser = await create(client, "advertisers", {"name": "Acme"}, admin)
    cache = other_app.state.intake.cache
    checks = 0
    real_check = cache._check

    async def counting_check(waiter: asyncio.Future[None]) -> None:
        nonlocal checks
        checks += 1
        await real_check(waiter)

    cache._check = counting_check
    # The first postback finds the cache without the new advertiser: a check loads it.
    assert (await send(other, advertiser["postback_token"])).status_code == 200
    assert checks == 1
    responses = await asyncio.gather(
        *(send(other, advertiser["postback_token"]) for _ in range(50))
    )
    assert [r.status_code for r in responses] == [200] * 50
    assert checks == 1
    # The other process's cache does not poll: only the stream's refusal tells it.
    await redis.incr(CATALOG_VERSION_KEY)
    responses = await asyncio.gather(
        *(send(other, advertiser["postback_token"]) for _ in range(50))
    )
    assert [r.status_code for r in responses] == [200] * 50
    assert 2 <= checks <= 11
