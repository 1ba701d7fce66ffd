from datetime import UTC, date, datetime, timedelta

from app.clicks.retention import DAYS_AHEAD, maintain_partitions
from app.db import Pool

PARTITIONS = """
SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'clicks'::regclass ORDER BY 1
"""


async def test_old_partitions_are_dropped_and_future_ones_made(pool: Pool) -> None:
    today = datetime.now(UTC).date()
    # Partitions other tests made for their fixed dates go first, so the check is exact.
    await maintain_partitions(pool, today=today, keep_days=40)
    await pool.execute("SELECT ensure_click_partitions($1::date, 5)", today - timedelta(days=42))
    dropped = await maintain_partitions(pool, today=today, keep_days=40)
    day = today - timedelta(days=42)
    assert dropped == [f"clicks_{day:%Y%m%d}", f"clicks_{day + timedelta(days=1):%Y%m%d}"]
    names = [r["relname"] for r in await pool.fetch(PARTITIONS)]
    assert f"clicks_{today - timedelta(days=40):%Y%m%d}" in names
    assert f"clicks_{(today + timedelta(days=DAYS_AHEAD)):%Y%m%d}" in names
    for name in dropped:
        assert name not in names


async def test_zero_retention_keeps_everything(pool: Pool) -> None:
    await pool.execute("SELECT ensure_click_partitions('2001-01-01'::date, 1)")
    assert await maintain_partitions(pool, today=date(2030, 1, 1), keep_days=0) == []
    assert "clicks_20010101" in [r["relname"] for r in await pool.fetch(PARTITIONS)]
