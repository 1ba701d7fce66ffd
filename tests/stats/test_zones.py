"""Python and PostgreSQL must agree on time zone rules: days are cut in one, labelled in
the other."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from app.db import Pool
from app.stats.zones import zones_out_of_step


async def test_python_and_postgresql_agree_on_every_zone(pool: Pool) -> None:
    # Embedded PostgreSQL brings a tz database of its own, which the test run (like
    # `tracker dev`) gives Python too; a system PostgreSQL and Python share the system's.
    assert await zones_out_of_step(pool) == []


async def test_a_zone_with_other_rules_is_named(pool: Pool) -> None:
    def load(name: str) -> ZoneInfo:
        return ZoneInfo("Asia/Tokyo" if name == "Europe/Berlin" else name)

    assert "Europe/Berlin" in await zones_out_of_step(pool, load)
