"""A manager's unfiltered lists through the API: every affiliate assigned to them at once
(`affiliate_id = ANY(...)`), none of another's; an owner's lists unchanged."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.db import Pool
from tests.helpers import create
from tests.support.portal import (
    assign,
    clicked_conversion,
    csrf_of,
    owner_and_manager,
    signed_in,
)

# Each list, and how it names the affiliate of an item.
LISTS = (
    "conversions",
    "ledger",
    "payouts",
    "customers",
    "coupons",
    "webhooks",
    "deliveries",
)


@pytest.fixture
async def three(
    client: httpx.AsyncClient, admin: dict[str, str], pool: Pool, catalog: dict[str, Any]
) -> dict[str, int]:
    """Alice, Bob and Carol, each with a record in every list."""
    carol = await create(client, "affiliates", {"name": "Carol"}, admin)
    offer = catalog["offer"]["id"]
    catalog["carol_link"] = await create(
        client, "links", {"affiliate_id": carol["id"], "offer_id": offer}, admin
    )
    ids = {"alice": catalog["alice"]["id"], "bob": catalog["bob"]["id"], "carol": carol["id"]}
    for name, affiliate in ids.items():
        sale = await clicked_conversion(
            pool,
            catalog,
            f"{name}_link",
            status="approved",
            sub1=name,
            revenue=Decimal("10.00"),
            payout=Decimal("4.00"),
        )
        await pool.execute(
            """INSERT INTO customers (advertiser_id, external_id, affiliate_id, offer_id,
                   first_conversion_id, first_conversion_at)
               SELECT advertiser_id, 'ext-' || id, affiliate_id, offer_id, id, received_at
               FROM conversions WHERE id = $1""",
            sale,
        )
        await pool.execute(
            """INSERT INTO payouts (affiliate_id, currency, amount, entry_ids, status,
                   period_start, period_end, created_by)
               VALUES ($1, 'USD', 4, '{}', 'requested', now(), now(), 'test')""",
            affiliate,
        )
        await pool.execute(
            """INSERT INTO deliveries (conversion_id, affiliate_id, conversion_status,
                   method, url) VALUES ($1, $2, 'approved', 'GET', 'https://example.com/')""",
            sale,
            affiliate,
        )
        code = f"{name.upper()}10"
        await create(
            client, "coupons", {"code": code, "affiliate_id": affiliate, "offer_id": offer}, admin
        )
        hook = {"url": f"https://{name}.example/in", "events": ["conversion.created"]}
        await create(client, "webhooks", {**hook, "affiliate_id": affiliate}, admin)
    return ids


@pytest.fixture
async def mia(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    three: dict[str, int],
) -> AsyncIterator[httpx.AsyncClient]:
    """Mia's browser, signed in: a manager of Alice and Bob (Carol is no one's)."""
    _, manager = await owner_and_manager(app, client, admin, pool)
    await assign(client, admin, three["alice"], manager)
    await assign(client, admin, three["bob"], manager)
    async with signed_in(app, "mia@example.com") as person:
        person.headers["X-CSRF-Token"] = csrf_of(await person.get("/manage"))
        yield person


async def affiliates_in(answer: httpx.Response) -> set[int]:
    assert answer.status_code == 200, answer.text
    return {item["affiliate_id"] for item in answer.json()["items"]}


async def test_a_managers_lists_show_all_their_affiliates_and_no_other(
    mia: httpx.AsyncClient, three: dict[str, int]
) -> None:
    alice, bob = three["alice"], three["bob"]
    for name in LISTS:
        assert await affiliates_in(await mia.get(f"/api/v1/{name}")) == {alice, bob}, name
    # Asking for one of theirs is that one alone.
    assert await affiliates_in(await mia.get(f"/api/v1/conversions?affiliate={bob}")) == {bob}
    assert await affiliates_in(await mia.get(f"/api/v1/coupons?affiliate_id={alice}")) == {alice}


async def test_pages_of_a_managers_list_go_through_all_their_affiliates(
    mia: httpx.AsyncClient, three: dict[str, int]
) -> None:
    seen: list[int] = []
    cursor = ""
    while True:
        page = (await mia.get(f"/api/v1/coupons?limit=1&cursor={cursor}")).json()
        seen += [item["affiliate_id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    assert seen == [three["alice"], three["bob"]]


async def test_an_owners_lists_are_unchanged(
    client: httpx.AsyncClient, admin: dict[str, str], three: dict[str, int]
) -> None:
    everyone = set(three.values())
    for name in LISTS:
        answer = await client.get(f"/api/v1/{name}", headers=admin)
        assert await affiliates_in(answer) == everyone, name
    carol = three["carol"]
    answer = await client.get(f"/api/v1/ledger?affiliate={carol}", headers=admin)
    assert await affiliates_in(answer) == {carol}


async def test_a_managers_portal_lists_show_all_their_affiliates(
    mia: httpx.AsyncClient, three: dict[str, int]
) -> None:
    for page in ("conversions", "customers", "webhooks", "deliveries"):
        shown = await mia.get(f"/manage/{page}")
        assert shown.status_code == 200, page
        assert '<option value="" selected>All of mine</option>' in shown.text, page
        links = {int(i) for i in re.findall(r'href="/manage/affiliates/(\d+)"', shown.text)}
        assert three["carol"] not in links, page
        if page == "customers":
            assert links == {three["alice"], three["bob"]}
    hooks = await mia.get("/manage/webhooks")
    assert "alice.example" in hooks.text
    assert "bob.example" in hooks.text
    assert "carol.example" not in hooks.text
