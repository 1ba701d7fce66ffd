"""Diverted clicks by reason (migration 0073): counted by the click writer in every tier,
recounted from the raw clicks for rows kept before, and reported exactly: through the
rollups, the raw rows and the sub-ID tier (which holds no diverted counts: its rows get
them from the raw diverted clicks). The other stats tests' data set has diverted clicks
too, so every grouping there is checked against the brute force with them."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.db import Pool
from app.keys.service import Principal
from app.rollups import diverted, registry
from app.rollups import subids as tier
from app.stats import service as stats_service
from app.stats import subids
from tests.helpers import create
from tests.stats import factory

ADMIN = Principal(role="admin")


async def _tiers(pool: Pool) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    for t in registry.TIERS:
        columns = ", ".join(("bucket", *t.keys, "currency", *registry.AMOUNTS))
        rows = await pool.fetch(f"SELECT {columns} FROM {t.table} ORDER BY {columns}")
        out[t.table] = [tuple(r) for r in rows]
    return out


async def test_the_writer_counts_diverted_human_clicks_by_reason_in_every_tier(
    pool: Pool, dataset: dict[str, Any]
) -> None:
    raw = await pool.fetchrow(
        "SELECT count(*) FILTER (WHERE diverted IS NOT NULL AND NOT is_bot) AS diverted,"
        " count(*) FILTER (WHERE diverted = 'cap' AND NOT is_bot) AS cap,"
        " count(*) FILTER (WHERE diverted IS NOT NULL AND is_bot) AS bots FROM clicks"
    )
    assert raw is not None
    assert raw["diverted"] > 20, "a data set with diverted clicks"
    assert raw["cap"] > 0
    assert raw["bots"] > 0
    for t in registry.TIERS:
        sums = await pool.fetchrow(
            f"SELECT {', '.join(f'sum({m})::bigint AS {m}' for m in registry.DIVERTED_METRICS)}"
            f" FROM {t.table}"
        )
        assert sums is not None
        assert sums["diverted"] == raw["diverted"], t.table
        assert sums["diverted_cap"] == raw["cap"], t.table
        assert sum(sums[f"diverted_{r}"] for r in registry.DIVERTED_REASONS) == raw["diverted"]


async def test_a_recount_restores_the_diverted_metrics_in_every_tier(
    pool: Pool, dataset: dict[str, Any]
) -> None:
    kept = await _tiers(pool)
    # Rows as the version before 0073 left them: no diverted clicks counted.
    zero = ", ".join(f"{m} = 0" for m in registry.DIVERTED_METRICS)
    await pool.execute(f"UPDATE {registry.BASE} SET {zero}")
    assert await _tiers(pool) != kept
    async with pool.acquire() as conn:
        done = await diverted.recount(conn)
    assert done.hours >= 10
    assert done.rows > 20
    assert await _tiers(pool) == kept
    # Idempotent: it sets, never adds; an hour counted wrong is set right.
    await pool.execute(f"UPDATE {registry.BASE} SET diverted_cap = diverted_cap + 5")
    async with pool.acquire() as conn:
        await diverted.recount(conn)
    assert await _tiers(pool) == kept


async def test_raw_reports_read_the_diverted_clicks_apart_and_exactly(
    pool: Pool, dataset: dict[str, Any]
) -> None:
    """A sub1 report is raw; so is one with bounds off the quarter hour."""
    start = datetime(2025, 10, 31, 12, 7, tzinfo=UTC)
    end = start + timedelta(hours=60, minutes=3)
    for group_by in (["sub1"], ["source", "country"], ["day", "device"]):
        params = {
            "from": [start.isoformat()],
            "to": [end.isoformat()],
            "group_by": [",".join(group_by)],
        }
        plan, _ = stats_service.plan(params, ADMIN)
        assert plan.reads is None
        body = await stats_service.report_json(pool, plan)
        expected = await factory.brute_force(
            pool, start=start, end=end, tz="UTC", group_by=group_by
        )
        assert factory.api_groups(body, group_by) == {k: v.metrics() for k, v in expected.items()}
        assert any(r["diverted"] for r in body["rows"])


async def _affiliate_links(
    client: httpx.AsyncClient, admin: dict[str, str], catalog: dict[str, Any]
) -> dict[str, Any]:
    affiliate = await create(client, "affiliates", {"name": "Diverted subs"}, admin)
    return await create(
        client,
        "links",
        {"affiliate_id": affiliate["id"], "offer_id": catalog["offer"]["id"]},
        admin,
    )


@pytest.mark.parametrize("network", [False, True])
async def test_top_sub_ids_from_the_tier_carry_their_diverted_clicks(
    network: bool,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    catalog: dict[str, Any],
    pool: Pool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(subids, "PROBE_COST", 0)  # the tier answers, whatever it costs
    link = await _affiliate_links(client, admin, catalog)
    rng = random.Random(3)
    window = datetime(2025, 6, 10, tzinfo=UTC)
    clicks = [
        factory.click(
            link,
            window + timedelta(minutes=rng.randrange(3 * 1440)),
            currency="USD",
            sub1=rng.choice(["a", "b", "b", "c", "c", "c", "d", None]),
            is_bot=rng.random() < 0.1,
            diverted=rng.choice([None, None, None, *registry.DIVERTED_REASONS]),
        )
        for _ in range(300)
    ]
    # Another affiliate's clicks count in the network's report only.
    clicks += [
        factory.click(
            catalog["bob_link"],
            window + timedelta(minutes=rng.randrange(3 * 1440)),
            currency="USD",
            sub1=rng.choice(["b", "c", "e"]),
            diverted=rng.choice([None, "cap", "targeting_country"]),
        )
        for _ in range(100)
    ]
    await factory.store_clicks(pool, clicks)
    await tier.seal(pool, window + timedelta(days=3, hours=1))
    params = {
        "from": ["2025-06-10"],
        "to": ["2025-06-12"],
        "group_by": ["sub1"],
        "sort": ["-clicks"],
        "limit": ["3"],
    }
    filters: dict[str, list[Any]] = {}
    if not network:
        params["affiliate"] = [str(link["affiliate_id"])]
        filters = {"affiliate": [link["affiliate_id"]]}
    plan, _ = stats_service.plan(params, ADMIN)
    assert plan.totals_reads is not None
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        assert await subids.read(conn, plan) is not None  # the tier answers it
    tiered = await stats_service.report_json(pool, plan)
    raw = await stats_service.report_json(pool, replace(plan, totals_reads=None))
    assert tiered == raw
    expected = await factory.brute_force(
        pool,
        start=window,
        end=window + timedelta(days=3),
        tz="UTC",
        group_by=["sub1"],
        filters=filters,
    )
    assert len(tiered["rows"]) == 3
    for row in tiered["rows"]:
        key = (row["sub1"], row["currency"])
        assert factory.api_groups({"rows": [row]}, ["sub1"])[key] == expected[key].metrics()
    assert all(row["diverted"] > 0 for row in tiered["rows"])
    total = sum(t.counts["diverted"] for t in expected.values())
    assert tiered["totals"]["diverted"] == total


async def test_an_affiliate_key_sees_its_own_diverted_clicks_by_reason(
    client: httpx.AsyncClient, dataset: dict[str, Any], pool: Pool
) -> None:
    alice = dataset["alice"]["id"]
    answer = await client.get(
        "/api/v1/stats",
        params={"from": "2025-10-31", "to": "2025-11-04", "group_by": "offer"},
        headers=dataset["alice_headers"],
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    raw = await pool.fetch(
        "SELECT diverted, count(*) AS n FROM clicks WHERE affiliate_id = $1"
        " AND diverted IS NOT NULL AND NOT is_bot GROUP BY 1",
        alice,
    )
    assert raw, "alice has diverted clicks"
    totals = body["totals"]
    assert totals["diverted"] == sum(r["n"] for r in raw)
    for r in raw:
        assert totals[f"diverted_{r['diverted']}"] == r["n"]
    assert "revenue" not in totals
