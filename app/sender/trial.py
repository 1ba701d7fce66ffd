"""A test postback: one try to an affiliate's postback URL now, with a sample
conversion's macros, through the same SSRF guard, signing and HTTP client as a real try
(app/sender/attempt.py). Nothing is stored: it answers what the receiver said."""

from __future__ import annotations

import secrets
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.errors import AppError, Conflict
from app.redis import count_in_window
from app.sender.attempt import Attempt, Courier
from app.sender.outbox import postback_request
from app.sender.receivers import Receivers
from app.settings import Settings

# What the macros say in a test: a conversion that does not exist, marked as a test.
SAMPLE = {
    "id": 0,
    "click_id": "test",
    "aff_click_id": "test",
    "sub1": "test",
    "payout": "0.00",
    "currency": "USD",
    "status": "approved",
    "goal": "test",
    "offer_id": 0,
}
# Each test is a request, on demand, to a URL the affiliate chose: a few a minute for each
# affiliate (counted in Redis for every web process), so that it relays no flood.
TESTS_PER_MINUTE = 10
WINDOW_S = 60


class TooManyTests(AppError, status=429, code="rate_limited"): ...


class LimiterDown(AppError, status=503, code="unavailable"): ...


async def _count(redis: Redis, affiliate_id: int) -> None:
    """Count one test of the affiliate's; 429 past TESTS_PER_MINUTE in this minute, 503
    when Redis cannot count."""
    try:
        counted = await count_in_window(redis, f"postback:test:{affiliate_id}", WINDOW_S)
    except (RedisError, OSError) as exc:
        raise LimiterDown(f"test postbacks are not sent right now: {exc}") from None
    if counted.count > TESTS_PER_MINUTE:
        raise TooManyTests(
            f"at most {TESTS_PER_MINUTE} test postbacks a minute",
            headers={"Retry-After": str(counted.retry_after)},
        )


async def try_postback(
    settings: Settings, redis: Redis, affiliate: Any
) -> tuple[str, str, Attempt]:
    """Send a test postback for `affiliate` (id, postback_url, postback_method,
    signing_secret): the URL and method sent, and the try's outcome; 409 without a URL,
    429 past TESTS_PER_MINUTE."""
    if not affiliate["postback_url"]:
        raise Conflict("the affiliate has no postback URL to test", code="no_postback_url")
    await _count(redis, affiliate["id"])
    sample = {**SAMPLE, "txid": f"test-{secrets.token_hex(4)}"}
    method = affiliate["postback_method"]
    url, body = postback_request(
        template=affiliate["postback_url"], method=method, conversion=sample
    )
    courier = Courier(settings, Receivers(concurrency=2))
    try:
        row = {
            "id": "test",
            "kind": "postback",
            "url": url,
            "method": method,
            "body": body,
            "signing_secret": affiliate["signing_secret"],
        }
        return url, method, await courier.send(row)
    finally:
        await courier.aclose()
