from __future__ import annotations

import asyncpg

from app import seed
from app.accounts import passwords
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


async def test_the_demo_prints_sign_ins_that_work(pool: asyncpg.Pool, settings: Settings) -> None:
    async with pool.acquire() as conn:
        first = await seed.seed_demo(conn, settings)
        second = await seed.seed_demo(conn, settings)

    assert [(role, email) for role, email, _ in first.sign_ins] == [
        ("owner", seed.DEMO_OWNER),
        ("affiliate", seed.DEMO_AFFILIATE),
    ]
    # The next start shows the same sign-ins, read back from the data folder.
    assert second.sign_ins == first.sign_ins
    for _, email, password in first.sign_ins:
        assert f"{email}  password {password}" in seed.banner(first)
        stored = await pool.fetchval("SELECT password_hash FROM users WHERE email = $1", email)
        assert await passwords.verify(stored, password)
