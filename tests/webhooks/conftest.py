"""Webhook fixtures: the app allowed to reach a loopback receiver, a sender to match,
and endpoints made through the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from app.sender.engine import Sender
from app.settings import Settings
from tests.fixtures.receiver import reaching_loopback
from tests.helpers import create

API = "/api/v1/webhooks"
# A small threshold, so the automatic disabling is reached in a test.
DISABLE_AFTER = 3


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return reaching_loopback(
        settings,
        sender_retry_schedule_s=[60, 300, 1800, 7200, 21600],
        sender_concurrency=8,
        webhook_disable_after_failures=DISABLE_AFTER,
    )


@pytest.fixture
async def sender(pool: asyncpg.Pool, settings: Settings) -> AsyncIterator[Sender]:
    instance = Sender(pool, settings)
    try:
        yield instance
    finally:
        await instance.aclose()


async def endpoint(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    url: str,
    events: list[str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A webhook endpoint made through the API (its secret included)."""
    body = {"url": url, "events": events or ["conversion.created"], **fields}
    return await create(client, "webhooks", body, headers)


async def make_due(pool: asyncpg.Pool) -> None:
    """Stand in for the clock: every pending retry is due now."""
    await pool.execute("UPDATE deliveries SET next_attempt_at = now() WHERE status = 'pending'")


async def deliveries(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT * FROM deliveries ORDER BY id")
    return [dict(r) for r in rows]
