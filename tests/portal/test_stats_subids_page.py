"""A stats table by one sub-ID lists the top sub-IDs by clicks (overview.TOP_SUBIDS): the
owner's over every affiliate, the same from the raw clicks and from the sealed sub-ID
tier, each row as a brute-force count of the clicks says."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from app.db import Pool
from app.portal import overview
from app.rollups import subids as tier
from app.stats import subids
from tests.portal.test_stats_page import table_of
from tests.stats import factory
from tests.support.portal import (
    assign,
    browser,
    make_user,
    owner_and_manager,
    sign_in,
    signed_in,
)

_ROW = re.compile(
    r'<td class="clip" title="([^"]*)">.*?data-metric="clicks" data-value="(\d+)"', re.S
)


def _rows(page: httpx.Response) -> list[tuple[str, int]]:
    return [(m[1], int(m[2])) for m in _ROW.finditer(table_of(page, "rows"))]


async def test_a_sub_id_table_lists_the_top_sub_ids_by_clicks_raw_and_from_the_tier(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    # 130 values over two affiliates, 1 to 9 clicks each (many ties), three days ago.
    at = datetime.now(UTC).replace(hour=6, minute=0, second=0, microsecond=0) - timedelta(days=3)
    clicks = []
    for i in range(130):
        for n in range(i * 7 % 9 + 1):
            link = catalog["alice_link" if n % 2 == 0 else "bob_link"]
            clicks.append(
                factory.click(link, at + timedelta(minutes=i), currency="USD", sub1=f"k{i:03}")
            )
    assert await factory.store_clicks(pool, clicks) == len(clicks)
    stored = await pool.fetch("SELECT sub1 FROM clicks WHERE NOT is_bot")
    counts = Counter(r["sub1"] for r in stored)
    expected = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: overview.TOP_SUBIDS]

    _, manager = await owner_and_manager(app, client, admin, pool)
    async with browser(app) as owner:
        assert (await sign_in(owner, "owner@example.com")).status_code == 303
        raw = await owner.get("/manage/stats?preset=7d&group_by=sub1")
        assert raw.status_code == 200, raw.text
        assert f"The top {overview.TOP_SUBIDS} by clicks" in raw.text
        assert _rows(raw) == expected
        # The totals are over every value, not the 100 shown.
        assert f'data-metric="clicks" data-value="{len(stored)}"' in table_of(raw, "totals")

        assert at.date() in await tier.seal(pool, datetime.now(UTC))
        # The network's day is confirmed, so the page reads it from the tier.
        confirmed = await pool.fetch(
            subids.CONFIRMED_DAYS, tier.NETWORK, at.date(), at.date() + timedelta(days=1)
        )
        assert [r["day"] for r in confirmed] == [at.date()]
        served = await owner.get("/manage/stats?preset=7d&group_by=sub1")
        assert _rows(served) == expected
        assert table_of(served, "totals") == table_of(raw, "totals")

        # A sort or a limit of the view's own is the view's.
        mine = await owner.get("/manage/stats?preset=7d&group_by=sub1&sort=sub1&limit=5")
        assert "The top" not in mine.text
        assert [v for v, _ in _rows(mine)] == sorted(counts)[:5]

    # A manager of Alice and Bob: the tier cannot answer their two affiliates together,
    # so the table keeps the report's order (the first rows by sub1); one of them, the top.
    for name in ("alice", "bob"):
        await assign(client, admin, catalog[name]["id"], manager)
    async with signed_in(app, "mia@example.com") as mia:
        both = await mia.get("/manage/stats?preset=7d&group_by=sub1")
        assert "The top" not in both.text
        assert [v for v, _ in _rows(both)] == sorted(counts)
        one = await mia.get(
            f"/manage/stats?preset=7d&group_by=sub1&affiliate={catalog['bob']['id']}"
        )
        assert f"The top {overview.TOP_SUBIDS} by clicks" in one.text

    # Alice's own top sub-IDs, from her rows of the tier; the API query the page shows (and
    # its CSV's) is in the table's order.
    alice = catalog["alice"]["id"]
    await make_user(app, client, admin, pool, email="alice@example.com", role="affiliate",
                    affiliate_id=alice)  # fmt: skip
    hers = Counter(
        r["sub1"]
        for r in await pool.fetch(
            "SELECT sub1 FROM clicks WHERE NOT is_bot AND affiliate_id = $1", alice
        )
    )
    top = sorted(hers.items(), key=lambda kv: (-kv[1], kv[0]))[: overview.TOP_SUBIDS]
    async with browser(app) as person:
        assert (await sign_in(person, "alice@example.com")).status_code == 303
        page = await person.get("/partner/stats?preset=7d&group_by=sub1")
        assert page.status_code == 200, page.text
        assert f"Your top {overview.TOP_SUBIDS} by clicks" in page.text
        shown = re.findall(r'<td class="clip"[^>]*>([^<]*)</td>', table_of(page, "report"))
        assert shown == [v for v, _ in top]
        assert "sort=-clicks" in page.text
