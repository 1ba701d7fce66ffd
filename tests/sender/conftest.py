"""Sender fixtures: a loopback receiver, a sender allowed to reach it, rows made with SQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from app.sender import service as sender_service
from app.sender.engine import Sender
from app.settings import Settings
from tests.fixtures.receiver import reaching_loopback


@pytest.fixture
def sender_settings(settings: Settings) -> Settings:
    """Loopback allowed (the receiver lives there), short timeouts, a short schedule."""
    return reaching_loopback(settings, sender_retry_schedule_s=[60, 300], sender_concurrency=8)


@pytest.fixture
async def sender(pool: asyncpg.Pool, sender_settings: Settings) -> AsyncIterator[Sender]:
    instance = Sender(pool, sender_settings)
    try:
        yield instance
    finally:
        await instance.aclose()


class Rows:
    """Catalog and conversion rows inserted with SQL, each test its own."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._txid = 0

    async def offer(self) -> int:
        advertiser: int = await self.pool.fetchval(
            "INSERT INTO advertisers (name, postback_token) VALUES ('Acme', $1) RETURNING id",
            uuid.uuid4().hex,
        )
        offer: int = await self.pool.fetchval(
            "INSERT INTO offers (advertiser_id, name, url) VALUES ($1, 'Shoes', "
            "'https://shop.example/') RETURNING id",
            advertiser,
        )
        return offer

    async def affiliate(
        self,
        postback_url: str | None,
        *,
        method: str = "GET",
        postback_on: str = "approved",
        signing_secret: str | None = None,
    ) -> dict[str, Any]:
        row = await self.pool.fetchrow(
            """INSERT INTO affiliates (name, postback_url, postback_method, postback_on,
                   signing_secret)
               VALUES ('Alice', $1, $2, $3, $4)
               RETURNING id, postback_url, postback_method, postback_on""",
            postback_url,
            method,
            postback_on,
            signing_secret,
        )
        assert row is not None
        return dict(row)

    async def conversion(
        self, affiliate_id: int | None, offer_id: int, **fields: Any
    ) -> dict[str, Any]:
        self._txid += 1
        values: dict[str, Any] = {
            "txid": f"order-{self._txid}",
            "click_id": uuid.uuid4(),
            "goal": "sale",
            "status": "approved",
            "payout": Decimal("2.5"),
            "currency": "USD",
            "aff_click_id": "their-click",
            **fields,
        }
        columns = ", ".join(values)
        params = ", ".join(f"${i}" for i in range(3, len(values) + 3))
        row = await self.pool.fetchrow(
            f"""INSERT INTO conversions (advertiser_id, affiliate_id, offer_id, received_at,
                    {columns})
                SELECT o.advertiser_id, $1, o.id, now(), {params} FROM offers o WHERE o.id = $2
                RETURNING *""",
            affiliate_id,
            offer_id,
            *values.values(),
        )
        assert row is not None
        return dict(row)

    async def delivery(self, url: str, *, method: str = "GET", **affiliate: Any) -> int:
        """A pending delivery to `url` for a fresh affiliate and conversion."""
        offer = await self.offer()
        aff = await self.affiliate(url, method=method, **affiliate)
        conversion = await self.conversion(aff["id"], offer)
        async with self.pool.acquire() as conn:
            delivery_id = await sender_service.enqueue_delivery(conn, conversion=conversion)
        assert delivery_id is not None
        return delivery_id

    async def get(self, delivery_id: int) -> dict[str, Any]:
        row = await self.pool.fetchrow("SELECT * FROM deliveries WHERE id = $1", delivery_id)
        assert row is not None
        return dict(row)

    async def attempts(self, delivery_id: int) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT * FROM delivery_attempts WHERE delivery_id = $1 ORDER BY id", delivery_id
        )
        return [dict(r) for r in rows]

    async def make_due(self) -> None:
        """Stand in for the clock: every pending retry (and lease) is due now."""
        await self.pool.execute(
            "UPDATE deliveries SET next_attempt_at = now() WHERE status = 'pending'"
        )


@pytest.fixture
def rows(pool: asyncpg.Pool) -> Rows:
    return Rows(pool)
