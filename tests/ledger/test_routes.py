"""/api/v1/ledger and /api/v1/affiliates/{id}/balance; the affiliate's payout_threshold
and the offer's hold_days they read."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import httpx
import pytest

from app.db import Pool
from tests.helpers import affiliate_headers, assert_error, create
from tests.support.ledger import add_conversion, change_status, entries, make_program

LONG_AGO = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


async def _history(pool: Pool) -> dict[str, Any]:
    """Alice: one paid-out-able (approved long ago), one held (approved now), one pending,
    one rejected; Bob: one approved long ago."""
    program = await make_program(pool, affiliates=2)
    alice, bob = program["affiliates"]
    now = dt.datetime.now(dt.UTC)
    await add_conversion(
        pool, program, affiliate_id=alice, payout=Decimal("10.00"), status="approved", at=LONG_AGO
    )
    await add_conversion(
        pool, program, affiliate_id=alice, payout=Decimal("4.00"), status="approved", at=now
    )
    await add_conversion(
        pool, program, affiliate_id=alice, payout=Decimal("3.00"), status="pending", at=now
    )
    rejected = await add_conversion(
        pool, program, affiliate_id=alice, payout=Decimal("7.00"), status="approved", at=now
    )
    await change_status(pool, rejected, "rejected", at=now)
    await add_conversion(
        pool, program, affiliate_id=bob, payout=Decimal("1.25"), status="approved", at=LONG_AGO
    )
    return program


async def test_balance_sums_each_state(
    client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    program = await _history(pool)
    alice = program["affiliates"][0]
    response = await client.get(f"/api/v1/affiliates/{alice}/balance", headers=admin)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "affiliate_id": alice,
        "balances": [
            {
                "currency": "USD",
                "pending": "3.00",
                "held": "4.00",
                "available": "10.00",
                "in_payout": "0.00",
                "paid": "0.00",
                "owed_back": "0.00",
                "payable": "10.00",
                "threshold": "50.00",
            }
        ],
    }
    # The recount: the payouts of the conversions that count now, per state.
    recount = await pool.fetchrow(
        """SELECT sum(payout) FILTER (WHERE status = 'pending') AS pending,
                  sum(payout) FILTER (WHERE status = 'approved') AS approved
           FROM conversions WHERE affiliate_id = $1""",
        alice,
    )
    assert recount is not None
    body = response.json()["balances"][0]
    assert Decimal(body["pending"]) == recount["pending"]
    assert Decimal(body["held"]) + Decimal(body["available"]) == recount["approved"]


async def test_an_affiliate_key_sees_its_own_money_only(
    client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    program = await _history(pool)
    alice, bob = program["affiliates"]
    headers = await affiliate_headers(client, admin, alice)
    own = await client.get(f"/api/v1/affiliates/{alice}/balance", headers=headers)
    assert own.status_code == 200
    assert_error(await client.get(f"/api/v1/affiliates/{bob}/balance", headers=headers), 403)
    listed = await client.get("/api/v1/ledger", headers=headers)
    assert {e["affiliate_id"] for e in listed.json()["items"]} == {alice}
    assert_error(await client.get(f"/api/v1/ledger?affiliate={bob}", headers=headers), 403)
    assert_error(
        await client.post(
            "/api/v1/ledger",
            json={
                "affiliate_id": alice,
                "currency": "USD",
                "kind": "bonus",
                "amount": "5.00",
                "reason": "me",
            },
            headers=headers,
        ),
        403,
    )


async def test_unknown_affiliate_balance_is_404(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    assert_error(await client.get("/api/v1/affiliates/999/balance", headers=admin), 404)


async def test_ledger_lists_entries_with_states_and_filters(
    client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    program = await _history(pool)
    alice = program["affiliates"][0]
    response = await client.get(f"/api/v1/ledger?affiliate={alice}", headers=admin)
    items = response.json()["items"]
    assert [(e["kind"], e["amount"], e["state"]) for e in items] == [
        ("commission", "10.00", "available"),
        ("commission", "4.00", "held"),
        ("commission", "3.00", "pending"),
        ("commission", "7.00", "cancelled"),
        ("reversal", "-7.00", "cancelled"),
    ]
    assert items[4]["reverses"] == items[3]["id"]
    reversals = await client.get("/api/v1/ledger?kind=reversal", headers=admin)
    assert [e["kind"] for e in reversals.json()["items"]] == ["reversal"]
    assert (await client.get("/api/v1/ledger?currency=EUR", headers=admin)).json()["items"] == []
    future = await client.get("/api/v1/ledger?from=2999-01-01", headers=admin)
    assert future.json()["items"] == []
    first = await client.get("/api/v1/ledger?limit=4", headers=admin)
    rest = await client.get(
        f"/api/v1/ledger?limit=4&cursor={first.json()['next_cursor']}", headers=admin
    )
    ids = [e["id"] for e in first.json()["items"] + rest.json()["items"]]
    assert ids == [r["id"] for r in await entries(pool)]
    assert_error(await client.get("/api/v1/ledger?currency=XYZ", headers=admin), 400)
    assert_error(await client.get("/api/v1/ledger?kind=gift", headers=admin), 400)
    assert_error(await client.get("/api/v1/ledger?from=yesterday", headers=admin), 400)


async def test_bonus_and_adjustment_are_available_at_once(
    client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    program = await make_program(pool, affiliates=1)
    alice = program["affiliates"][0]
    for kind, amount in (("bonus", "25.00"), ("adjustment", "-5.50")):
        made = await create(
            client,
            "ledger",
            {
                "affiliate_id": alice,
                "currency": "EUR",
                "kind": kind,
                "amount": amount,
                "reason": "November",
            },
            admin,
        )
        assert made["state"] == "available"
        assert made["amount"] == amount
        assert made["created_by"] == "admin"
    balance = (await client.get(f"/api/v1/affiliates/{alice}/balance", headers=admin)).json()
    assert balance["balances"][0]["currency"] == "EUR"
    assert balance["balances"][0]["available"] == "19.50"


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"amount": "0"}, 400),
        ({"amount": "-0.00"}, 400),
        ({"amount": "1.005"}, 400),  # USD has two decimals
        ({"amount": "abc"}, 400),
        ({"currency": "XYZ"}, 400),
        ({"kind": "commission"}, 400),
        ({"kind": "payout"}, 400),
        ({"reason": ""}, 400),
        ({"affiliate_id": 999}, 409),
    ],
)
async def test_bad_manual_entries_are_refused_and_store_nothing(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    change: dict[str, Any],
    status: int,
) -> None:
    program = await make_program(pool, affiliates=1)
    body = {
        "affiliate_id": program["affiliates"][0],
        "currency": "USD",
        "kind": "bonus",
        "amount": "5.00",
        "reason": "r",
        **change,
    }
    assert_error(await client.post("/api/v1/ledger", json=body, headers=admin), status)
    assert await entries(pool) == []


async def test_payout_threshold_is_a_per_currency_map(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    made = await create(
        client, "affiliates", {"name": "Ann", "payout_threshold": {"USD": "25"}}, admin
    )
    assert made["payout_threshold"] == {"USD": "25.00"}
    plain = await create(client, "affiliates", {"name": "Ben"}, admin)
    assert plain["payout_threshold"] == {}
    url = f"/api/v1/affiliates/{made['id']}"
    patched = await client.patch(url, json={"payout_threshold": {"EUR": "10.5"}}, headers=admin)
    assert patched.json()["payout_threshold"] == {"EUR": "10.50"}
    bads: list[object] = [{"USD": "-1"}, {"XYZ": "5"}, {"USD": "abc"}, []]
    for bad in bads:
        assert_error(await client.patch(url, json={"payout_threshold": bad}, headers=admin), 400)
        assert_error(
            await client.post(
                "/api/v1/affiliates", json={"name": "C", "payout_threshold": bad}, headers=admin
            ),
            400,
        )
    assert_error(await client.patch(url, json={"payout_threshold": None}, headers=admin), 400)
    stored = await client.get(url, headers=admin)
    assert stored.json()["payout_threshold"] == {"EUR": "10.50"}
    headers = await affiliate_headers(client, admin, made["id"])
    assert_error(await client.patch(url, json={"payout_threshold": {}}, headers=headers), 403)


async def test_offer_hold_days(
    client: httpx.AsyncClient, admin: dict[str, str], catalog: dict[str, Any]
) -> None:
    offer = catalog["offer"]
    assert offer["hold_days"] == 30
    url = f"/api/v1/offers/{offer['id']}"
    assert (await client.patch(url, json={"hold_days": 0}, headers=admin)).json()["hold_days"] == 0
    for bad in (-1, 3651, "7", 1.5):
        assert_error(await client.patch(url, json={"hold_days": bad}, headers=admin), 400)
    assert (await client.get(url, headers=admin)).json()["hold_days"] == 0
