"""Who is owed what, against a brute-force model: sequences of orders through clicks,
a coupon and bare customer IDs from several affiliates, on first- and last-click offers
with lifetimes, recurring payouts and limits, with reversals."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from app.db import Pool
from app.settings import Settings
from tests.helpers import create
from tests.support.conversions import click, postback, run_worker

PAYOUT = Decimal("2.50")
COUPON_OWNER = 1  # the coupon is the second affiliate's
AGE_STEPS = (0, 7, 40)  # days; sums never hit a lifetime of 30 exactly
_example = itertools.count()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # One shard: the worker then reads the records in the order they were sent, as the
    # model does (across shards a later record may overtake an earlier one).
    settings.stream_shards = 1
    return settings


Path = tuple[str, int]  # ("click", affiliate) | ("coupon", 0) | ("none", 0)
paths = st.one_of(
    st.tuples(st.just("click"), st.integers(0, 2)),
    st.tuples(st.sampled_from(["coupon", "none"]), st.just(0)),
)
orders = st.tuples(st.just("order"), st.integers(0, 1), paths)
reversals = st.tuples(st.just("reverse"), st.integers(0, 20), st.just(("none", 0)))


@dataclass
class Scenario:
    model: str
    lifetime: int | None
    recurring: Decimal | None
    limit: int | None
    age: int
    first: list[tuple[str, int, Path]]
    second: list[tuple[str, int, Path]]


scenarios = st.builds(
    Scenario,
    model=st.sampled_from(["last_click", "first_click"]),
    lifetime=st.sampled_from([None, 0, 30]),
    recurring=st.sampled_from([None, Decimal("1.00")]),
    limit=st.sampled_from([None, 0, 1, 2]),
    age=st.sampled_from(AGE_STEPS),
    first=st.lists(orders, min_size=1, max_size=4),
    second=st.lists(st.one_of(orders, reversals), max_size=5),
)


@dataclass
class Owed:
    """The model's conversion: who it credits (None: unattributed), payout, status."""

    affiliate: int | None
    payout: Decimal
    status: str
    params: dict[str, Any] = field(default_factory=dict)


def model(s: Scenario) -> tuple[list[Owed], dict[int, int]]:
    """Brute force: each order in turn against the customers' bindings."""
    bound: dict[int, dict[str, int]] = {}  # customer -> affiliate, age, recurring count
    rows: list[Owed] = []

    def within(customer: dict[str, int]) -> bool:
        return s.lifetime is None or (s.lifetime > 0 and customer["age"] <= s.lifetime)

    for phase, actions in enumerate((s.first, s.second)):
        if phase == 1:
            for aged in bound.values():
                aged["age"] += s.age
        for kind, number, (how, affiliate) in actions:
            if kind == "reverse":
                targets = [r for r in rows if r.status != "skip"]
                if targets:
                    target = targets[number % len(targets)]
                    if target.affiliate is not None:
                        target.status = "rejected"
                rows.append(Owed(None, Decimal(0), "skip"))  # keeps indices aligned
                continue
            customer = bound.get(number)
            if how == "none":
                if customer is None or not within(customer):
                    rows.append(Owed(None, Decimal(0), "unattributed"))
                    continue
                credited = customer["affiliate"]
            else:
                credited = affiliate if how == "click" else COUPON_OWNER
                if customer is None:
                    bound[number] = {"affiliate": credited, "age": 0, "seq": 0}
                    rows.append(Owed(credited, PAYOUT, "approved"))
                    continue
                if customer["affiliate"] != credited:
                    if s.model == "first_click" and within(customer):
                        credited = customer["affiliate"]
                    else:
                        customer["affiliate"] = credited
            customer["seq"] += 1
            payout = s.recurring if s.recurring is not None else PAYOUT
            if s.limit is not None and customer["seq"] > s.limit:
                payout = Decimal(0)
            rows.append(Owed(credited, payout, "approved"))
    return rows, {c: b["affiliate"] for c, b in bound.items()}


async def _shop(client: httpx.AsyncClient, admin: dict[str, str], s: Scenario, n: int) -> Any:
    advertiser = await create(client, "advertisers", {"name": f"Shop {n}"}, admin)
    offer = await create(
        client,
        "offers",
        {
            "advertiser_id": advertiser["id"],
            "name": "Plan",
            "url": "https://shop.example/?c={click_id}",
            "main_goal_multiple": True,
            "revenue": {"type": "fixed", "value": "4.00"},
            "payout": {"type": "fixed", "value": str(PAYOUT)},
            "attribution_model": s.model,
            "lifetime_days": s.lifetime,
            "recurring_payout": None
            if s.recurring is None
            else {"type": "fixed", "value": str(s.recurring)},
            "recurring_limit": s.limit,
        },
        admin,
    )
    affiliates, links = [], []
    for name in "ABC":
        affiliate = await create(client, "affiliates", {"name": f"{name}{n}"}, admin)
        affiliates.append(affiliate["id"])
        body = {"affiliate_id": affiliate["id"], "offer_id": offer["id"]}
        links.append(await create(client, "links", body, admin))
    code = f"SAVE{n}"
    body = {"code": code, "affiliate_id": affiliates[COUPON_OWNER], "offer_id": offer["id"]}
    await create(client, "coupons", body, admin)
    return advertiser, affiliates, links, code


@pytest.mark.timeout(600)
@hypothesis_settings(
    max_examples=25,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    deadline=None,
)
@given(s=scenarios)
async def test_who_is_owed_what_matches_a_brute_force_model(
    s: Scenario,
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    settings: Settings,
    pool: Pool,
) -> None:
    n = next(_example)
    advertiser, affiliates, links, code = await _shop(client, admin, s, n)
    # Every order through a click gets a click of its own, stored before any order.
    sent: list[dict[str, Any]] = []
    for i, (kind, number, (how, affiliate)) in enumerate(s.first + s.second):
        params: dict[str, Any] = {"txid": f"o{i}", "customer_id": f"cust-{number}"}
        if kind == "order" and how == "click":
            params["click_id"] = await click(app, client, links[affiliate]["code"])
        elif kind == "order" and how == "coupon":
            params["coupon"] = code.lower()
        sent.append(params)
    await run_worker(settings)

    actions = s.first + s.second

    async def send(start: int, part: list[tuple[str, int, Path]]) -> None:
        for i, (kind, number, _) in enumerate(part, start=start):
            params = sent[i]
            if kind == "reverse":
                orders_so_far = [j for j in range(i) if actions[j][0] == "order"]
                if not orders_so_far:
                    continue
                target = orders_so_far[number % len(orders_so_far)]
                params = {**sent[target], "status": "rejected"}
            response = await postback(client, advertiser["postback_token"], **params)
            assert response.status_code == 200, response.text

    await send(0, s.first)
    await run_worker(settings)
    await pool.execute(
        "UPDATE customers SET first_conversion_at = first_conversion_at - make_interval(days => $1)"
        " WHERE advertiser_id = $2",
        s.age,
        advertiser["id"],
    )
    await send(len(s.first), s.second)
    await run_worker(settings)

    expected, bindings = model(s)
    index = {a: i for i, a in enumerate(affiliates)}
    stored = {
        r["txid"]: r
        for r in await pool.fetch(
            "SELECT * FROM conversions WHERE advertiser_id = $1", advertiser["id"]
        )
    }
    got = [
        Owed(
            None if r["affiliate_id"] is None else index[r["affiliate_id"]],
            r["payout"],
            r["status"],
        )
        if (r := stored.get(f"o{i}")) is not None
        else Owed(None, Decimal(0), "skip")
        for i in range(len(expected))
    ]
    assert [(o.affiliate, o.payout, o.status) for o in got] == [
        (o.affiliate, o.payout, o.status) for o in expected
    ]
    customers = await pool.fetch(
        "SELECT external_id, affiliate_id FROM customers WHERE advertiser_id = $1",
        advertiser["id"],
    )
    assert {r["external_id"]: index[r["affiliate_id"]] for r in customers} == {
        f"cust-{c}": a for c, a in bindings.items()
    }
    # Each affiliate's money: the rollups the stats read agree with the model too.
    for i, affiliate_id in enumerate(affiliates):
        owed = sum(
            (o.payout for o in expected if o.affiliate == i and o.status == "approved"),
            Decimal(0),
        )
        rolled = await pool.fetchval(
            "SELECT coalesce(sum(payout), 0) FROM stats_rollup WHERE affiliate_id = $1",
            affiliate_id,
        )
        assert rolled == owed
