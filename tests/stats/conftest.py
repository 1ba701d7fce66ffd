"""A data set with traffic around a DST change, in two currencies, with replays and
reversals: every stats test reads it and compares with a brute-force count."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from app.attribution import service as attribution_service
from app.db import Pool
from app.rollups import registry
from tests.helpers import affiliate_headers, create
from tests.stats import factory

# America/New_York falls back at 2025-11-02 06:00 UTC (01:00-02:00 local happens twice).
WINDOW_START = datetime(2025, 10, 31, 12, 0, tzinfo=UTC)
WINDOW_HOURS = 72
# Local hour and day edges of the zones under test, where off-by-one buckets would show.
EDGES = [
    datetime(2025, 11, 1, 18, 15, tzinfo=UTC),  # midnight in Kathmandu (+05:45)
    datetime(2025, 11, 1, 18, 29, 59, tzinfo=UTC),
    datetime(2025, 11, 1, 18, 30, tzinfo=UTC),  # midnight in Kolkata (+05:30)
    datetime(2025, 11, 2, 4, 59, 59, tzinfo=UTC),
    datetime(2025, 11, 2, 5, 30, tzinfo=UTC),  # the first 01:30 in New York
    datetime(2025, 11, 2, 6, 30, tzinfo=UTC),  # the second 01:30 in New York
    datetime(2025, 11, 3, 0, 0, tzinfo=UTC),
]


@pytest.fixture
async def dataset(
    client: httpx.AsyncClient, admin: dict[str, str], catalog: dict[str, Any], pool: Pool
) -> dict[str, Any]:
    rng = random.Random(6)
    euro_offer = await create(
        client,
        "offers",
        {
            "advertiser_id": catalog["advertiser"]["id"],
            "name": "Acme Euro",
            "url": "https://shop.example/eu?cid={click_id}",
            "currency": "EUR",
            "revenue": {"type": "fixed", "value": "3.00"},
            "payout": {"type": "fixed", "value": "1.25"},
        },
        admin,
    )
    alice_euro = await create(
        client,
        "links",
        {"affiliate_id": catalog["alice"]["id"], "offer_id": euro_offer["id"]},
        admin,
    )
    links = [
        (catalog["alice_link"], "USD"),
        (catalog["bob_link"], "USD"),
        (alice_euro, "EUR"),
    ]
    times = [*EDGES, *(
        WINDOW_START + timedelta(seconds=rng.randrange(WINDOW_HOURS * 3600)) for _ in range(400)
    )]  # fmt: skip
    # About a tenth of the clicks diverted, by every reason, bots among them (from an rng
    # of their own: the rest of the data set stays as it was).
    diverting = random.Random(16)
    clicks = []
    for at in times:
        link, currency = rng.choice(links)
        clicks.append(
            factory.click(
                link,
                at,
                currency=currency,
                sub1=rng.choice(factory.SUBS),
                source=rng.choice(["fb", "google", None]),
                country=rng.choice(factory.COUNTRIES),
                agent=rng.choice(factory.AGENTS),
                is_bot=rng.random() < 0.1,
                is_unique=rng.random() < 0.6,
                diverted=diverting.choice(registry.DIVERTED_REASONS)
                if diverting.random() < 0.12
                else None,
            )
        )
    assert await factory.store_clicks(pool, clicks) == len(clicks)
    # A replayed batch (redelivered stream entries) changes nothing.
    assert await factory.store_clicks(pool, rng.sample(clicks, 100)) == 0
    stored = await pool.fetch("SELECT * FROM clicks WHERE NOT is_bot ORDER BY clicked_at")
    conversion_ids = []
    customers: list[int] = []
    for row in rng.sample(list(stored), 90):
        currency = row["currency"]
        # A third carry no customer, a third are a new customer's first, the rest a
        # recurring conversion of a customer made before.
        kind = rng.randrange(3)
        customer = rng.choice(customers) if kind == 2 and customers else None
        conversion_ids.append(
            await factory.add_conversion(
                pool,
                row,
                advertiser_id=catalog["advertiser"]["id"],
                currency=currency,
                status=rng.choice(["approved", "approved", "pending", "rejected"]),
                created_at=min(
                    row["clicked_at"] + timedelta(seconds=rng.randrange(30 * 3600)),
                    WINDOW_START + timedelta(hours=WINDOW_HOURS + 12),
                ),
                revenue=Decimal("4.00") if currency == "USD" else Decimal("3.00"),
                payout=Decimal(rng.choice(["2.50", "1.2345", "0.01"])),
                customer=customer,
                new_customer=kind == 1,
            )
        )
        if kind == 1:
            customers.append(
                await pool.fetchval(
                    "SELECT customer_id FROM conversions WHERE id = $1", conversion_ids[-1]
                )
            )
    # Reversals and late approvals move counts and money between statuses.
    for conversion_id in rng.sample(conversion_ids, 30):
        await attribution_service.change_status(
            pool,
            conversion_id=conversion_id,
            status=rng.choice(["approved", "rejected", "pending"]),
            changed_by="test",
        )
    return {
        **catalog,
        "euro_offer": euro_offer,
        "alice_euro": alice_euro,
        "alice_headers": await affiliate_headers(client, admin, catalog["alice"]["id"]),
    }
