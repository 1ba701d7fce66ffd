from __future__ import annotations

import asyncpg

from app import seed
from app.settings import Settings


async def test_the_demo_has_a_commission_group_and_is_made_once(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    async with pool.acquire() as conn:
        first = await seed.seed_demo(conn, settings)
        second = await seed.seed_demo(conn, settings)

    assert (first.created, second.created) == (True, False)
    groups = await pool.fetch("SELECT name, default_value, promotion_metric FROM commission_groups")
    assert [(g["name"], str(g["default_value"]), g["promotion_metric"]) for g in groups] == [
        ("Demo Silver", "3.0000", "approved_conversions")
    ]
    history = await pool.fetch("SELECT actor_role, to_value FROM affiliate_history")
    assert [(h["actor_role"], h["to_value"]) for h in history] == [("system", "active")] * 2
