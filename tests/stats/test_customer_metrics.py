"""The customer metrics of rollup rows kept before migration 0038 are recounted from the
conversions (migration 0039), in every tier, and a second recount changes nothing."""

from __future__ import annotations

from typing import Any

from app.attribution.rollup import recount_customer_metrics
from app.db import Pool
from app.rollups import registry


async def _tiers(pool: Pool) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    for tier in registry.TIERS:
        columns = ", ".join(("bucket", *tier.keys, "currency", *registry.METRICS))
        rows = await pool.fetch(f"SELECT {columns} FROM {tier.table} ORDER BY {columns}")
        out[tier.table] = [tuple(r) for r in rows]
    return out


async def test_a_recount_restores_the_customer_metrics_in_every_tier(
    pool: Pool, dataset: dict[str, Any]
) -> None:
    kept = await _tiers(pool)
    assert any(r[-3] for r in kept[registry.BASE]), "the data set should have new customers"
    assert any(r[-2] for r in kept[registry.BASE]), "and repeat conversions"
    # Rows as an older version left them: no customer metrics at all.
    zero = ", ".join(f"{m} = 0" for m in registry.CUSTOMER_METRICS)
    await pool.execute(f"UPDATE {registry.BASE} SET {zero}")
    assert all(not r[-3] for r in (await _tiers(pool))["stats_rollup_totals"])
    async with pool.acquire() as conn:
        assert await recount_customer_metrics(conn) >= 1
    assert await _tiers(pool) == kept
    async with pool.acquire() as conn:
        await recount_customer_metrics(conn)
    assert await _tiers(pool) == kept
