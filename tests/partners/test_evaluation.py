from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
from redis.asyncio import Redis

from app.partners import evaluation
from tests.helpers import create

GROUPS: list[tuple[str, int, dict[str, Any] | None]] = [
    # name, rank, promotion
    ("Bronze", 1, {"metric": "approved_conversions", "window_days": 30, "min": "2"}),
    ("Silver", 2, {"metric": "clicks", "window_days": 7, "min": "10", "demote": True}),
    (
        "Gold",
        3,
        {"metric": "payout", "window_days": 30, "min": "40", "currency": "USD", "demote": True},
    ),
    ("Hand-picked", 10, None),
]


@dataclass(frozen=True)
class RollupRow:
    affiliate_id: int
    day: date
    currency: str
    clicks: int
    conversions: int
    payout: Decimal


async def insert_rollups(pool: asyncpg.Pool, rows: list[RollupRow]) -> None:
    """Raw 15-minute rollup rows (the tier triggers make the daily ones), one per key."""
    summed: dict[tuple[Any, ...], list[Any]] = {}
    for n, r in enumerate(rows):
        bucket = datetime.combine(r.day, datetime.min.time(), UTC) + timedelta(
            minutes=15 * (n % 96)
        )
        key = (bucket, r.affiliate_id, r.currency)
        totals = summed.setdefault(key, [0, 0, Decimal(0)])
        totals[0] += r.clicks
        totals[1] += r.conversions
        totals[2] += r.payout
    await pool.executemany(
        """INSERT INTO stats_rollup (bucket, affiliate_id, offer_id, link_id, currency, clicks,
               conversions, payout) VALUES ($1, $2, 1, 1, $3, $4, $5, $6)""",
        [(*key, *totals) for key, totals in summed.items()],
    )


def expected_group(
    affiliate_id: int,
    current: str | None,
    rows: list[RollupRow],
    today: date,
) -> str | None:
    """The brute-force model: every rule recounted from the raw rows."""
    rules = {name: (rank, rule) for name, rank, rule in GROUPS}

    def value(rule: dict[str, Any]) -> Decimal:
        since = today - timedelta(days=rule["window_days"] - 1)
        mine = [r for r in rows if r.affiliate_id == affiliate_id and r.day >= since]
        if rule["metric"] == "clicks":
            return Decimal(sum(r.clicks for r in mine))
        if rule["metric"] == "approved_conversions":
            return Decimal(sum(r.conversions for r in mine))
        return sum((r.payout for r in mine if r.currency == rule["currency"]), Decimal(0))

    met = [n for n, (_, rule) in rules.items() if rule and value(rule) >= Decimal(rule["min"])]
    best = max(met, key=lambda n: rules[n][0], default=None)
    if best is not None and (current is None or rules[best][0] > rules[current][0]):
        return best
    rule = rules[current][1] if current else None
    if rule and rule.get("demote") and current not in met:
        return best
    return current


async def make_groups(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, int]:
    ids = {}
    for name, rank, promotion in GROUPS:
        made = await create(
            client, "groups", {"name": name, "rank": rank, "promotion": promotion}, admin
        )
        ids[name] = made["id"]
    return ids


async def test_evaluation_matches_a_recount_of_random_histories(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    ids = await make_groups(client, admin)
    names = {v: k for k, v in ids.items()}
    affiliates = [
        (await create(client, "affiliates", {"name": f"A{i}"}, admin))["id"] for i in range(8)
    ]
    today = datetime.now(UTC).date()
    directions: list[str] = []
    for seed in range(12):
        rng = random.Random(seed)
        await pool.execute("TRUNCATE stats_rollup, stats_rollup_daily_links, affiliate_history")
        rows = [
            RollupRow(
                affiliate_id=rng.choice(affiliates),
                day=today - timedelta(days=rng.randint(0, 40)),
                currency=rng.choice(["USD", "USD", "EUR"]),
                clicks=rng.randint(0, 4),
                conversions=rng.randint(0, 1),
                payout=Decimal(rng.randint(0, 900)) / 100,
            )
            for _ in range(rng.randint(0, 80))
        ]
        await insert_rollups(pool, rows)
        before = {a: rng.choice([None, *ids]) for a in affiliates}
        suspended = rng.choice(affiliates)
        for a, group in before.items():
            await pool.execute(
                "UPDATE affiliates SET group_id = $2, status = $3 WHERE id = $1",
                a,
                ids[group] if group else None,
                "suspended" if a == suspended else "active",
            )

        response = await client.post("/api/v1/groups/evaluate", headers=admin)

        assert response.status_code == 200, response.text
        moves = response.json()["moves"]
        expected = {
            a: before[a] if a == suspended else expected_group(a, before[a], rows, today)
            for a in affiliates
        }
        after = {
            r["id"]: names.get(r["group_id"])
            for r in await pool.fetch("SELECT id, group_id FROM affiliates")
        }
        assert after == expected, seed
        directions += [m["direction"] for m in moves]
        moved = {a for a in affiliates if expected[a] != before[a]}
        assert {m["affiliate_id"] for m in moves} == moved
        history = await pool.fetch(
            "SELECT affiliate_id, from_value, to_value, reason, actor_role FROM affiliate_history"
        )

        def stored(group: str | None) -> str | None:
            return None if group is None else str(ids[group])

        assert {
            (h["affiliate_id"], h["from_value"], h["to_value"], h["reason"]) for h in history
        } == {(a, stored(before[a]), stored(expected[a]), "group evaluation") for a in moved}
    # The histories did move affiliates both ways.
    assert {"up", "down"} <= set(directions)


async def test_moves_up_and_down_and_records_each(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    ids = await make_groups(client, admin)
    climber, faller, keeper, picked = [
        (await create(client, "affiliates", {"name": n}, admin))["id"]
        for n in ("climber", "faller", "keeper", "picked")
    ]
    await pool.execute("UPDATE affiliates SET group_id = $2 WHERE id = $1", faller, ids["Gold"])
    await pool.execute("UPDATE affiliates SET group_id = $2 WHERE id = $1", keeper, ids["Bronze"])
    await pool.execute(
        "UPDATE affiliates SET group_id = $2 WHERE id = $1", picked, ids["Hand-picked"]
    )
    today = datetime.now(UTC).date()
    old = today - timedelta(days=10)
    await insert_rollups(
        pool,
        [
            # 12 clicks this week: Silver (and 45 USD of payout, 40 in EUR: Gold).
            RollupRow(climber, today, "USD", 12, 1, Decimal("45.00")),
            # Gold's payout rule is missed (30 USD); 10 clicks but 10 days ago: not Silver.
            RollupRow(faller, old, "USD", 10, 2, Decimal("30.00")),
            RollupRow(faller, today, "EUR", 0, 0, Decimal("40.00")),
            # Bronze does not demote: keeper stays though it has nothing.
            RollupRow(picked, today, "USD", 50, 5, Decimal("100.00")),
        ],
    )

    response = await client.post("/api/v1/groups/evaluate", headers=admin)

    moves = {m["affiliate_id"]: m for m in response.json()["moves"]}
    assert moves == {
        climber: {
            "affiliate_id": climber,
            "from_group_id": None,
            "to_group_id": ids["Gold"],
            "direction": "up",
        },
        faller: {
            "affiliate_id": faller,
            "from_group_id": ids["Gold"],
            "to_group_id": ids["Bronze"],
            "direction": "down",
        },
    }
    assert response.json()["affiliates"] == 4
    steps = (await client.get(f"/api/v1/affiliates/{faller}/history", headers=admin)).json()
    assert steps["items"][-1]["reason"] == "group evaluation"
    assert (steps["items"][-1]["from"], steps["items"][-1]["to"]) == (
        str(ids["Gold"]),
        str(ids["Bronze"]),
    )
    # A second run finds nothing to move.
    again = await client.post("/api/v1/groups/evaluate", headers=admin)
    assert again.json()["moves"] == []


async def test_the_daily_run_happens_once_per_day_across_workers(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool, redis: Redis
) -> None:
    ids = await make_groups(client, admin)
    climber = (await create(client, "affiliates", {"name": "c"}, admin))["id"]
    await insert_rollups(
        pool, [RollupRow(climber, datetime.now(UTC).date(), "USD", 0, 2, Decimal(0))]
    )

    first = await evaluation.evaluate_daily(pool, redis)
    second = await evaluation.evaluate_daily(pool, redis)

    assert first is not None
    assert [m.to_group_id for m in first.moves] == [ids["Bronze"]]
    assert second is None
    history = await pool.fetch("SELECT actor_role FROM affiliate_history WHERE kind = 'group'")
    assert [h["actor_role"] for h in history] == ["system"]
