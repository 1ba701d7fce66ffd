"""Issue 11: the per-address pixel rate limit (anyone can fire pixels)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis

from app.clickid import new_click_id
from app.ops import pipeline
from app.postbacks.limits import PixelLimiter, rate_key
from app.settings import Settings
from app.streams import keys
from tests.support.conversions import stream_length


async def test_pixels_over_the_rate_are_dropped_at_intake_and_counted(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, redis: Redis
) -> None:
    app.state.intake.limiter = PixelLimiter(redis, per_minute=3, budget_s=1.0)
    for _ in range(5):
        response = await client.get("/pixel.gif", params={"click_id": new_click_id()[0]})
        assert (response.status_code, response.headers["content-type"]) == (200, "image/gif")
    assert await stream_length(redis, settings) == 3
    state = await pipeline.pipeline_state(redis, settings, keys.CONVERSIONS)
    # Dropped pixels were never served: the balance does not count them.
    assert (state.served, state.pixels_limited, state.in_streams, state.balance) == (3, 2, 3, 0)


async def test_the_limit_is_per_address_and_per_minute(redis: Redis) -> None:
    limiter = PixelLimiter(redis, per_minute=2, budget_s=1.0)
    minute = 1_700_000_040.0
    assert [await limiter.allow("198.51.100.7", now=minute) for _ in range(3)] == [
        True,
        True,
        False,
    ]
    assert await limiter.allow("198.51.100.8", now=minute)
    assert await limiter.allow("198.51.100.7", now=minute + 60)  # the next minute
    # An IPv6 subscriber holds a whole /64: its addresses share one count.
    assert await limiter.allow("2001:db8:1:2::1", now=minute)
    assert await limiter.allow("2001:db8:1:2:ffff::9", now=minute)
    assert not await limiter.allow("2001:db8:1:2::abcd", now=minute)
    assert await limiter.allow("2001:db8:1:3::1", now=minute)
    assert rate_key("2001:db8:1:2::1", minute) == rate_key("2001:db8:1:2:ff::", minute)
    assert rate_key("not an address", minute).startswith("pixels:rate:unknown:")
    # IP_ANONYMIZE hands over the /24 or /48 it keeps: counted per that network.
    assert rate_key("198.51.100.0/24", minute).startswith("pixels:rate:198.51.100.0/24:")
    assert rate_key("2001:db8:1::/48", minute).startswith("pixels:rate:2001:db8:1::/48:")
    assert await redis.ttl(rate_key("198.51.100.7", minute)) > 0  # keys expire


async def test_the_limit_lets_pixels_through_when_redis_is_away() -> None:
    gone = Redis.from_url("redis://127.0.0.1:1/0")  # nothing listens on port 1
    try:
        limiter = PixelLimiter(gone, per_minute=1, budget_s=0.5)
        assert [await limiter.allow("198.51.100.7") for _ in range(3)] == [True] * 3
    finally:
        await gone.aclose()


async def test_a_zero_rate_means_no_limit(redis: Redis) -> None:
    limiter = PixelLimiter(redis, per_minute=0, budget_s=1.0)
    assert all([await limiter.allow("198.51.100.7") for _ in range(5)])
    assert await redis.keys("pixels:rate:*") == []


async def test_behind_a_trusted_proxy_the_visitor_address_is_counted(
    settings: Settings, redis: Redis
) -> None:
    from asgi_lifespan import LifespanManager

    from app.main import create_app

    proxied = create_app(settings.model_copy(update={"trusted_proxies": ["127.0.0.0/8"]}))
    async with LifespanManager(proxied):
        proxied.state.intake.limiter = PixelLimiter(redis, per_minute=1, budget_s=1.0)
        transport = httpx.ASGITransport(app=proxied)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            for visitor in ("198.51.100.1", "198.51.100.2", "198.51.100.1"):
                await c.get(
                    "/pixel.gif",
                    params={"click_id": new_click_id()[0]},
                    headers={"X-Forwarded-For": visitor},
                )
    assert await stream_length(redis, settings) == 2
