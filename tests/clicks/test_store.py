"""Storing clicks: one row and one count per click, however often it comes."""

from __future__ import annotations

from app.clickid import new_click_id
from app.clicks import record, store
from app.db import Pool

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36"


def a_click() -> bytes:
    click_id, ms = new_click_id()
    return record.encode(
        click_id, ms, 1, 1, 1, "USD", None, {}, "198.51.100.1", BROWSER, None, None, False
    )


async def test_a_click_twice_in_one_batch_is_one_row_and_one_count(pool: Pool) -> None:
    # Spooled after Redis took it late, a click comes twice, possibly in one batch.
    raw, other = a_click(), a_click()
    writer = store.ClickWriter(pool)
    assert await writer.write([store.decode(raw), store.decode(other), store.decode(raw)]) == 2
    assert await writer.write([store.decode(raw)]) == 0
    assert await pool.fetchval("SELECT count(*) FROM clicks") == 2
    assert await pool.fetchval("SELECT sum(clicks) FROM stats_rollup") == 2
