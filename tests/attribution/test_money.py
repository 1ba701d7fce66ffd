"""Revenue and payout by rule: exact decimals, half-even to the currency's minor unit."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st

from app.attribution.money import by_rule, round_money
from app.db import Pool
from app.settings import Settings
from tests.support.conversions import click, conversions, make_shop, postback, run_worker


@pytest.mark.parametrize(
    ("kind", "value", "amount", "currency", "expected"),
    [
        ("fixed", "2.5", None, "USD", "2.50"),
        ("percent", "5", "2.50", "USD", "0.12"),  # 0.125: half to even
        ("percent", "5", "2.70", "USD", "0.14"),  # 0.135: half to even (up)
        ("percent", "7.5", "10.50", "USD", "0.79"),  # 0.7875
        ("percent", "10", "33.33", "USD", "3.33"),
        ("percent", "12.5", "1000", "JPY", "125"),
        ("percent", "2.5", "100", "JPY", "2"),  # 2.5 yen: half to even
        ("percent", "1", "12.345", "KWD", "0.123"),
        ("percent", "10", None, "USD", "0.00"),
        ("fixed", "0.005", None, "USD", "0.00"),
        ("fixed", "0.015", None, "USD", "0.02"),
    ],
)
def test_by_rule(kind: str, value: str, amount: str | None, currency: str, expected: str) -> None:
    result = by_rule(
        kind, Decimal(value), amount=Decimal(amount) if amount else None, currency=currency
    )
    assert result == Decimal(expected)
    assert str(result) == expected


@given(
    cents=st.integers(min_value=0, max_value=10**16),
    basis_points=st.integers(min_value=0, max_value=10_000),
)
def test_percent_rounding_matches_integer_arithmetic(cents: int, basis_points: int) -> None:
    """amount (cents) * percent (basis points): the result in cents, half to even, by hand."""
    amount = Decimal(cents).scaleb(-2)
    percent = Decimal(basis_points).scaleb(-2)
    numerator = cents * basis_points  # in units of 1/1_000_000 cent... of cents * 1e-4
    quotient, remainder = divmod(numerator, 10_000)
    if remainder * 2 > 10_000 or (remainder * 2 == 10_000 and quotient % 2 == 1):
        quotient += 1
    assert by_rule("percent", percent, amount=amount, currency="USD") == Decimal(quotient).scaleb(
        -2
    )


@given(st.decimals(min_value=0, max_value=10**14, allow_nan=False, places=4))
def test_rounding_is_idempotent_and_close(value: Decimal) -> None:
    rounded = round_money(value, "USD")
    assert round_money(rounded, "USD") == rounded
    assert abs(rounded - value) <= Decimal("0.005")


async def test_percent_override_and_payout_param_end_to_end(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    settings: Settings,
    pool: Pool,
) -> None:
    shop = await make_shop(
        client,
        admin,
        revenue={"type": "percent", "value": "10"},
        payout={"type": "percent", "value": "7.5"},
    )
    patched = await client.patch(
        f"/api/v1/offers/{shop['offer']['id']}",
        json={
            "payout_overrides": [
                {"affiliate_id": shop["bob"]["id"], "type": "fixed", "value": "3.10"}
            ]
        },
        headers=admin,
    )
    assert patched.status_code == 200, patched.text
    alice = await click(app, client, shop["alice_link"]["code"])
    bob = await click(app, client, shop["bob_link"]["code"])
    await run_worker(settings)
    for click_id, txid in ((alice, "A"), (bob, "B")):
        response = await postback(
            client, shop["token"], click_id=click_id, txid=txid, amount="10.50", payout="99"
        )
        assert response.status_code == 200
    await run_worker(settings)
    rows = {r["txid"]: r for r in await conversions(pool)}
    # Revenue: 10% of 10.50 = 1.05. Payout: 7.5% = 0.7875 -> 0.79; Bob's override 3.10.
    # The `payout` parameter is ignored: the offer does not allow it.
    assert (rows["A"]["revenue"], rows["A"]["payout"]) == (Decimal("1.05"), Decimal("0.79"))
    assert (rows["B"]["revenue"], rows["B"]["payout"]) == (Decimal("1.05"), Decimal("3.10"))
    assert rows["A"]["amount"] == Decimal("10.50")

    allowed = await client.patch(
        f"/api/v1/offers/{shop['offer']['id']}", json={"allow_payout_param": True}, headers=admin
    )
    assert allowed.status_code == 200
    await postback(client, shop["token"], click_id=alice, txid="C", amount="10", payout="1.235")
    await run_worker(settings)
    rows = {r["txid"]: r for r in await conversions(pool)}
    assert rows["C"]["payout"] == Decimal("1.24")  # half-even: 1.235 -> 1.24


async def test_goals_have_their_own_rules(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    settings: Settings,
    pool: Pool,
) -> None:
    shop = await make_shop(
        client,
        admin,
        main_goal="sale",
        goals=[
            {
                "name": "lead",
                "revenue": {"type": "fixed", "value": "1.00"},
                "payout": {"type": "fixed", "value": "0.40"},
            },
            {
                "name": "deposit",
                "revenue": {"type": "percent", "value": "20"},
                "payout": {"type": "percent", "value": "10"},
                "allow_multiple": True,
            },
        ],
    )
    click_id = await click(app, client, shop["alice_link"]["code"])
    await run_worker(settings)
    sends = [
        {"txid": "L1", "event": "lead"},
        {"txid": "L2", "event": "lead"},  # a second lead of the same click
        {"txid": "D1", "event": "deposit", "amount": "50"},
        {"txid": "D2", "event": "deposit", "amount": "25"},  # recurring: allowed
        {"txid": "S1"},  # the main goal
        {"txid": "X1", "event": "signup"},  # no such goal
    ]
    for params in sends:
        assert (
            await postback(client, shop["token"], click_id=click_id, **params)
        ).status_code == 200
    await run_worker(settings)
    rows = {r["txid"]: r for r in await conversions(pool)}
    got = {
        t: (r["goal"], r["status"], r["reason"], r["revenue"], r["payout"]) for t, r in rows.items()
    }
    # The two leads go to the stream's shards in turn: the first one stored is approved,
    # whichever that is, and the other is its duplicate.
    first, second = sorted(("L1", "L2"), key=lambda t: rows[t]["id"])
    assert (got.pop(first), got.pop(second)) == (
        ("lead", "approved", None, Decimal("1.00"), Decimal("0.40")),
        ("lead", "rejected", "duplicate", Decimal("1.00"), Decimal("0.40")),
    )
    assert got == {
        "D1": ("deposit", "approved", None, Decimal("10.00"), Decimal("5.00")),
        "D2": ("deposit", "approved", None, Decimal("5.00"), Decimal("2.50")),
        "S1": ("sale", "approved", None, Decimal("4.00"), Decimal("2.50")),
        "X1": ("signup", "rejected", "goal", Decimal("0"), Decimal("0")),
    }


async def test_amounts_in_another_currency_are_not_converted(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    settings: Settings,
    pool: Pool,
) -> None:
    shop = await make_shop(client, admin, currency="EUR", payout={"type": "percent", "value": "10"})
    click_id = await click(app, client, shop["alice_link"]["code"])
    await run_worker(settings)
    await postback(client, shop["token"], click_id=click_id, txid="E", amount="10", currency="eur")
    await postback(client, shop["token"], click_id=click_id, txid="U", amount="10", currency="USD")
    await run_worker(settings)
    rows = {r["txid"]: r for r in await conversions(pool)}
    assert (rows["E"]["status"], rows["E"]["payout"], rows["E"]["currency"]) == (
        "approved",
        Decimal("1.00"),
        "EUR",
    )
    assert (rows["U"]["status"], rows["U"]["reason"], rows["U"]["amount_currency"]) == (
        "rejected",
        "currency",
        "USD",
    )
