"""enqueue_delivery: the outbox row attribution writes with each conversion change."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from app.clickid import format_click_id
from app.sender import service as sender_service
from tests.sender.conftest import Rows

TEMPLATE = (
    "https://aff.example/pb?c={click_id}&ac={aff_click_id}&s1={sub1}&s5={sub5}&p={payout}"
    "&st={status}&e={event}&tx={txid}&o={offer_id}"
)


async def enqueue(pool: asyncpg.Pool, conversion: dict[str, Any]) -> int | None:
    async with pool.acquire() as conn, conn.transaction():
        return await sender_service.enqueue_delivery(conn, conversion=conversion)


async def test_macros_are_filled_url_encoded(pool: asyncpg.Pool, rows: Rows) -> None:
    offer = await rows.offer()
    affiliate = await rows.affiliate(TEMPLATE)
    click_id = uuid.uuid4()
    conversion = await rows.conversion(
        affiliate["id"],
        offer,
        click_id=click_id,
        sub1="a b&c=d/é?#",
        payout=Decimal("0.125"),
        txid="T 1",
        goal="first deposit",
    )

    delivery_id = await enqueue(pool, conversion)

    delivery = await rows.get(delivery_id or 0)
    assert delivery["url"] == (
        f"https://aff.example/pb?c={format_click_id(click_id)}&ac=their-click&s1=a%20b%26c%3Dd%2F%C3%A9%3F%23"
        f"&s5=&p=0.125&st=approved&e=first%20deposit&tx=T%201&o={offer}"
    )
    assert delivery["method"] == "GET"
    assert delivery["body"] is None
    assert delivery["status"] == "pending"
    assert delivery["conversion_status"] == "approved"
    assert delivery["affiliate_id"] == affiliate["id"]
    assert delivery["conversion_id"] == conversion["id"]


async def test_post_carries_a_json_body(pool: asyncpg.Pool, rows: Rows) -> None:
    offer = await rows.offer()
    affiliate = await rows.affiliate("https://aff.example/pb", method="POST")
    conversion = await rows.conversion(affiliate["id"], offer, sub2="kw")

    delivery = await rows.get(await enqueue(pool, conversion) or 0)

    assert delivery["method"] == "POST"
    assert delivery["url"] == "https://aff.example/pb"
    body = delivery["body"]
    assert body["txid"] == conversion["txid"]
    # The click ID as the redirect handed it out, not the stored UUID.
    assert body["click_id"] == format_click_id(conversion["click_id"])
    assert body["sub2"] == "kw"
    assert body["sub1"] is None
    assert body["payout"] == "2.50"
    assert body["currency"] == "USD"
    assert body["offer_id"] == offer
    assert body["conversion_id"] == conversion["id"]


@pytest.mark.parametrize(
    ("postback_on", "status", "fires"),
    [
        ("approved", "approved", True),
        ("approved", "pending", False),
        ("approved", "rejected", False),
        ("all", "approved", True),
        ("all", "pending", True),
        ("all", "rejected", True),
    ],
)
async def test_postback_on_filter(
    pool: asyncpg.Pool, rows: Rows, postback_on: str, status: str, fires: bool
) -> None:
    offer = await rows.offer()
    affiliate = await rows.affiliate("https://aff.example/pb?s={status}", postback_on=postback_on)
    conversion = await rows.conversion(affiliate["id"], offer, status=status)

    delivery_id = await enqueue(pool, conversion)

    assert (delivery_id is not None) is fires
    count = await pool.fetchval("SELECT count(*) FROM deliveries")
    assert count == int(fires)


async def test_reversal_sends_rejected_to_an_all_changes_affiliate(
    pool: asyncpg.Pool, rows: Rows
) -> None:
    offer = await rows.offer()
    affiliate = await rows.affiliate("https://aff.example/pb?s={status}", postback_on="all")
    conversion = await rows.conversion(affiliate["id"], offer)
    await enqueue(pool, conversion)
    reversed_ = await pool.fetchrow(
        "UPDATE conversions SET status = 'rejected' WHERE id = $1 RETURNING *", conversion["id"]
    )
    assert reversed_ is not None

    await enqueue(pool, dict(reversed_))

    urls = await pool.fetch("SELECT url, conversion_status FROM deliveries ORDER BY id")
    assert [(r["url"], r["conversion_status"]) for r in urls] == [
        ("https://aff.example/pb?s=approved", "approved"),
        ("https://aff.example/pb?s=rejected", "rejected"),
    ]


async def test_no_postback_without_url_or_affiliate(pool: asyncpg.Pool, rows: Rows) -> None:
    offer = await rows.offer()
    silent = await rows.affiliate(None)
    assert await enqueue(pool, await rows.conversion(silent["id"], offer)) is None
    unattributed = await rows.conversion(None, offer, status="unattributed")
    assert await enqueue(pool, unattributed) is None
    assert await pool.fetchval("SELECT count(*) FROM deliveries") == 0


async def test_affiliate_given_by_the_caller_is_used(pool: asyncpg.Pool, rows: Rows) -> None:
    offer = await rows.offer()
    affiliate = await rows.affiliate(None)
    conversion = await rows.conversion(affiliate["id"], offer)
    given = {**affiliate, "postback_url": "https://aff.example/given?t={txid}"}

    async with pool.acquire() as conn:
        delivery_id = await sender_service.enqueue_delivery(
            conn, conversion=conversion, affiliate=given
        )

    assert (await rows.get(delivery_id or 0))["url"] == (
        f"https://aff.example/given?t={conversion['txid']}"
    )


async def test_rolled_back_transaction_leaves_no_delivery(pool: asyncpg.Pool, rows: Rows) -> None:
    offer = await rows.offer()
    affiliate = await rows.affiliate("https://aff.example/pb")
    conversion = await rows.conversion(affiliate["id"], offer)

    class Abort(Exception):
        pass

    async def attribute_then_fail() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await sender_service.enqueue_delivery(conn, conversion=conversion)
            raise Abort

    with pytest.raises(Abort):
        await attribute_then_fail()

    assert await pool.fetchval("SELECT count(*) FROM deliveries") == 0


async def test_a_batch_is_written_in_one_statement(pool: asyncpg.Pool, rows: Rows) -> None:
    offer = await rows.offer()
    get = await rows.affiliate("https://aff.example/pb?t={txid}")
    post = await rows.affiliate("https://aff.example/post", method="POST")
    batch = [
        sender_service.delivery_for(conversion=await rows.conversion(a["id"], offer), affiliate=a)
        for a in (get, post)
    ]
    deliveries = [d for d in batch if d is not None]
    assert len(deliveries) == 2

    async with pool.acquire() as conn:
        await sender_service.enqueue_deliveries(conn, [])
        await sender_service.enqueue_deliveries(conn, deliveries)

    stored = await pool.fetch(
        "SELECT conversion_id, affiliate_id, conversion_status, method, url, body, status"
        " FROM deliveries ORDER BY id"
    )
    assert [tuple(r) for r in stored] == [
        (*deliveries[0], "pending"),
        (*deliveries[1], "pending"),
    ]
    assert stored[0]["body"] is None
    assert stored[1]["body"]["txid"] == "order-2"
