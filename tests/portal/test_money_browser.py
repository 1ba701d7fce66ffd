"""The managers' payouts and customers screens in Chromium: balances, a run previewed,
made, exported and paid, a payout's entries; customers, one customer reassigned; a
phone; a manager. Every number the page shows is the API's for the same data."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from app.db import Pool
from app.portal import payouts as portal_payouts
from app.settings import Settings
from tests.browser import needs_browser, run_script
from tests.customers.test_routes import _two_customers
from tests.payouts.test_routes import TODAY, _program
from tests.portal.test_payouts_page import amount_of
from tests.support.portal import PASSWORD, make_user

SHOTS = (
    "manage-payouts-preview",
    "manage-payouts",
    "manage-payout",
    "manage-customers",
    "manage-customer",
    "manage-payouts-390",
    "manage-payout-390",
    "manage-customers-390",
    "manage-customer-390",
    "manager-payouts",
)


def _money(cells: dict[str, str]) -> dict[str, Decimal]:
    return {k: amount_of(v) for k, v in cells.items()}


def _row(row: dict[str, Any]) -> tuple[int, dict[str, Decimal]]:
    """A balances row as the page shows it: the affiliate (`#12`) and its figures."""
    found = re.search(r"#(\d+)", row["text"])
    assert found, row
    return int(found[1]), _money(row["cells"])


def _api_row(balance: dict[str, Any]) -> tuple[int, dict[str, Decimal]]:
    (usd,) = balance["balances"]
    return balance["affiliate_id"], {k: Decimal(v) for k, v in usd.items() if k != "currency"}


@needs_browser
@pytest.mark.timeout(300)
async def test_the_payouts_and_customers_screens_in_chromium(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    shop: dict[str, Any],
    settings: Settings,
    tracker: str,
    artifacts: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _two_customers(app, client, shop, settings)
    customers = (await client.get("/api/v1/customers", headers=admin)).json()["items"]
    ids = {c["external_id"]: c["id"] for c in customers}
    program = await _program(pool)
    payee, other = program["affiliates"]
    stored = await client.put(
        f"/api/v1/affiliates/{payee}/payment",
        json={"method": "paypal", "email": "alice@pay.example"},
        headers=admin,
    )
    assert stored.status_code == 200, stored.text
    await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    mia = await make_user(app, client, admin, pool, email="mia@example.com", role="manager")
    for affiliate_id in (other, shop["bob"]["id"]):
        await pool.execute(
            "UPDATE affiliates SET manager_id = $1 WHERE id = $2", mia["key_id"], affiliate_id
        )
    everyone = (shop["alice"]["id"], shop["bob"]["id"], payee, other)
    balances = {
        a: (await client.get(f"/api/v1/affiliates/{a}/balance", headers=admin)).json()
        for a in everyone
    }
    preview = await client.post(
        "/api/v1/payout-runs/preview", json={"currency": "USD", "up_to": TODAY}, headers=admin
    )
    ann_before = (await client.get(f"/api/v1/customers/{ids['ann@x']}", headers=admin)).json()
    config = {
        "owner": "owner@example.com",
        "manager": "mia@example.com",
        "password": PASSWORD,
        "ann": ids["ann@x"],
        "bo": ids["bo@x"],
        "alice": shop["alice"]["id"],
        "bob": shop["bob"]["id"],
    }
    # Pages of 3 entries, so that the payout's 4 page on.
    monkeypatch.setattr(portal_payouts, "LINES_SIZE", 3)
    seen = await run_script(
        Path(__file__).with_name("money.js"),
        tracker,
        orjson.dumps(config).decode(),
        seconds=240,
        SCREENSHOT_DIR=str(artifacts),
    )

    assert seen["problems"] == []
    assert seen["foreign"] == []
    # Balances: one row per affiliate with money, each figure the balance API's.
    assert [_row(r) for r in seen["balances"]] == [_api_row(balances[a]) for a in everyone]
    assert "Alice Müller" in seen["balances"][2]["text"]
    # The preview is the API's, and the run made from it pays the same.
    assert [_money(r["cells"])["amount"] for r in seen["preview"]] == [
        Decimal(line["amount"]) for line in preview.json()["lines"]
    ]
    assert "62.50 USD" in seen["previewSum"]
    assert f"Payout run {seen['runId']} made." in seen["runNotice"]
    run = (await client.get(f"/api/v1/payout-runs/{seen['runId']}", headers=admin)).json()
    assert _money(seen["runs"][0]["cells"])["amount"] == Decimal(run["amount"]) == Decimal("62.50")
    assert [_money(r["cells"])["amount"] for r in seen["payouts"]] == [Decimal("62.50")]
    assert "no PayPal details" not in seen["files"]
    assert "no Wise details" in seen["files"]
    for fmt, got in seen["exports"].items():
        assert got["page"]["status"] == got["api"]["status"] == 200, fmt
        assert got["page"]["body"] == got["api"]["body"], fmt
        assert got["page"]["skipped"] == got["api"]["skipped"], fmt
    assert "alice@pay.example,62.50,USD" in seen["exports"]["paypal"]["page"]["body"]
    # Marked paid: the API says so, with the reference typed.
    assert f"Payout {seen['payoutId']} paid." in seen["paidNotice"]
    assert seen["paidStatus"] == "paid"
    payout = (await client.get(f"/api/v1/payouts/{seen['payoutId']}", headers=admin)).json()
    assert (payout["status"], payout["reference"]) == ("paid", "PP-2026-12")
    assert amount_of(seen["payoutTotal"]) == Decimal(payout["amount"])
    assert seen["payoutLines"] == 3
    assert "Showing 3 of 4 entries" in seen["payoutShown"]
    assert seen["payoutNextLines"] == 1
    assert "Showing 1 of 4 entries, those after entry" in seen["payoutNextShown"]
    assert amount_of(seen["payoutNextTotal"]) == Decimal(payout["amount"])

    # Customers: the list, one customer's totals and timeline as the API has them.
    assert seen["customers"] == sorted(ids.values())
    assert int(seen["lifetime"]["conversions"]) == ann_before["conversions"] == 2
    assert amount_of(seen["lifetime"]["revenue-USD"]) == Decimal(ann_before["revenue"]["USD"])
    assert amount_of(seen["lifetime"]["payout-USD"]) == Decimal(ann_before["payout"]["USD"])
    assert seen["timeline"] == [i["kind"].replace("_", " ") for i in ann_before["timeline"]]
    assert f"reassigned to affiliate {shop['bob']['id']}" in seen["reassigned"]["notice"]
    assert seen["reassigned"]["affiliate"] == str(shop["bob"]["id"])
    assert seen["reassigned"]["timeline"][-1] == "reassigned"
    ann_after = (await client.get(f"/api/v1/customers/{ids['ann@x']}", headers=admin)).json()
    assert ann_after["affiliate_id"] == shop["bob"]["id"]

    # On a phone: the page no wider than the screen; wide tables scroll in their box.
    for name, fit in seen["phone"].items():
        assert fit["pageWidth"] <= 390, name
        assert all(box["width"] <= 390 for box in fit["boxes"]), name
    assert any(b["scroll"] > b["width"] for b in seen["phone"]["manage-payouts-390"]["boxes"])

    # The manager: their affiliate's balance, their affiliate's customers, no run form.
    assert [_row(r) for r in seen["managerBalances"]] == [
        _api_row(balances[a]) for a in (shop["bob"]["id"], other)
    ]
    assert seen["managerRunForm"] == 0
    assert seen["managerCustomers"] == sorted(ids.values())  # both bound to Bob now
    assert seen["managerOther"]["status"] == 404
    for name in SHOTS:
        assert (artifacts / f"{name}.png").stat().st_size > 10_000, name
