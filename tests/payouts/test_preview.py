"""A payout run's preview (the run's own selection, nothing written), the runs list, and
the ledger's page of balances, each checked against what the API then does or says."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import httpx

from app.db import Pool
from app.ledger import service as ledger_service
from tests.helpers import assert_error
from tests.payouts.test_routes import TODAY, _program, _run
from tests.support.ledger import add_conversion


async def test_the_preview_is_what_the_run_then_pays(
    client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    program = await _program(pool)
    alice, bob = program["affiliates"]
    # Bob's newest commission is still in hold: the preview leaves it out as the run does.
    await pool.execute('UPDATE affiliates SET payout_threshold = \'{"USD": "1"}\'')
    await add_conversion(
        pool,
        program,
        affiliate_id=bob,
        payout=Decimal("3.33"),
        status="approved",
        at=dt.datetime.now(dt.UTC),
    )
    stored = await client.put(
        f"/api/v1/affiliates/{alice}/payment",
        json={"method": "paypal", "email": "alice@pay.example"},
        headers=admin,
    )
    assert stored.status_code == 200, stored.text
    body = {"currency": "USD", "up_to": TODAY}
    response = await client.post("/api/v1/payout-runs/preview", json=body, headers=admin)
    assert response.status_code == 200, response.text
    preview = response.json()
    assert (preview["payouts"], preview["amount"]) == (2, "82.50")
    assert [(p["affiliate_id"], p["amount"], p["method"]) for p in preview["lines"]] == [
        (alice, "62.50", "paypal"),
        (bob, "20.00", None),
    ]
    # Alice's three commissions and the bonus (the refunded one is cancelled); Bob's one.
    assert [p["entries"] for p in preview["lines"]] == [4, 1]
    assert await pool.fetchval("SELECT count(*) FROM payout_runs") == 0
    assert await pool.fetchval("SELECT count(*) FROM payouts") == 0

    run = await _run(client, admin)
    payouts = (await client.get(f"/api/v1/payouts?run={run['id']}", headers=admin)).json()
    assert [(p["affiliate_id"], p["amount"]) for p in payouts["items"]] == [
        (p["affiliate_id"], p["amount"]) for p in preview["lines"]
    ]
    assert run["amount"] == preview["amount"]
    claims = await pool.fetch("SELECT cardinality(entry_ids) AS n FROM payouts ORDER BY id")
    assert [c["n"] for c in claims] == [p["entries"] for p in preview["lines"]]
    after = await client.post("/api/v1/payout-runs/preview", json=body, headers=admin)
    assert after.json()["lines"] == []
    bad = await client.post("/api/v1/payout-runs/preview", json={"currency": "usd"}, headers=admin)
    assert_error(bad, 400)


async def test_runs_are_listed_newest_first_with_their_totals(
    client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    program = await _program(pool)
    first = await _run(client, admin)
    second = await _run(client, admin, affiliate_ids=[program["affiliates"][1]])
    listed = await client.get("/api/v1/payout-runs", params={"limit": 1}, headers=admin)
    page = listed.json()
    assert [r["id"] for r in page["items"]] == [second["id"]]
    rest = await client.get(
        "/api/v1/payout-runs", params={"cursor": page["next_cursor"]}, headers=admin
    )
    assert rest.json()["items"] == [first]
    assert rest.json()["next_cursor"] is None
    euro = await client.get("/api/v1/payout-runs", params={"currency": "EUR"}, headers=admin)
    assert euro.json()["items"] == []


async def test_a_page_of_balances_is_each_affiliates_balance(
    client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    program = await _program(pool)
    alice, bob = program["affiliates"]
    idle = await pool.fetchval(
        "INSERT INTO affiliates (name, email) VALUES ('Idle', 'idle@example.com') RETURNING id"
    )
    threshold = Decimal(50)
    page = await ledger_service.balances(
        pool, among=None, after=0, limit=10, default_threshold=threshold
    )
    assert [b.affiliate_id for b in page] == [alice, bob]  # no entries, no row: not `idle`
    for one in page:
        api = await client.get(f"/api/v1/affiliates/{one.affiliate_id}/balance", headers=admin)
        assert one.model_dump(mode="json") == api.json()
    mine = await ledger_service.balances(
        pool, among=[bob, idle], after=0, limit=10, default_threshold=threshold
    )
    assert [b.affiliate_id for b in mine] == [bob]
    later = await ledger_service.balances(
        pool, among=None, after=alice, limit=1, default_threshold=threshold
    )
    assert [b.affiliate_id for b in later] == [bob]
    assert page[0].balances[0].payable == Decimal("62.50")
