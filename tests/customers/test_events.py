"""customer.created (app/customers/store.py, through app/webhooks/events.py) once per new
customer, and the conversions' customer fields; an affiliate's endpoint without the
service's or the advertiser's customer IDs."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from app.db import Pool
from app.settings import Settings
from tests.support.conversions import click, postback, run_worker
from tests.support.webhooks import subscribe, told

EVENTS = ["customer.created", "conversion.created"]


async def test_a_new_customer_is_told_once_and_conversions_carry_it(
    app: FastAPI, client: httpx.AsyncClient, shop: dict[str, Any], settings: Settings, pool: Pool
) -> None:
    alice, bob = shop["alice"]["id"], shop["bob"]["id"]
    program = await subscribe(pool, EVENTS)
    of_alice = await subscribe(pool, EVENTS, affiliate_id=alice)
    await subscribe(pool, EVENTS, affiliate_id=bob)  # hears of nothing
    click_id = await click(app, client, shop["alice_link"]["code"])
    await run_worker(settings)
    for params in ({"click_id": click_id, "txid": "o-1"}, {"txid": "o-2"}):
        response = await postback(client, shop["token"], customer="C-9", **params)
        assert response.status_code == 200, response.text
        await run_worker(settings)

    customer = await pool.fetchrow("SELECT * FROM customers")
    assert customer is not None
    first = await pool.fetchval("SELECT id FROM conversions WHERE txid = 'o-1'")
    expected = {
        "id": customer["id"],
        "advertiser_id": customer["advertiser_id"],
        "affiliate_id": alice,
        "offer_id": customer["offer_id"],
        "first_conversion_id": first,
        "created_at": customer["created_at"].isoformat().replace("+00:00", "Z"),
    }
    created = await told(pool, "customer.created")
    assert created == [(program, expected), (of_alice, expected)]
    assert "C-9" not in str(created)

    conversions = await told(pool, "conversion.created")
    assert {w for w, _ in conversions} == {program, of_alice}  # not of_bob
    full = [d for w, d in conversions if w == program]
    assert [(d["customer_id"], d["recurring"], d["attributed_via"]) for d in full] == [
        (customer["id"], False, "click"),
        (customer["id"], True, "customer"),
    ]
    own = [d for w, d in conversions if w == of_alice]
    assert [(d["recurring"], d["attributed_via"]) for d in own] == [
        (False, "click"),
        (True, "customer"),
    ]
    assert not any("customer_id" in d or "revenue" in d for d in own)
