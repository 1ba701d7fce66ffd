"""Both stats screens show the diverted clicks by reason in Chromium: a manager's (their
affiliate's clicks only) and an affiliate's on a phone, each number the stats API's and
the raw clicks' count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from app.db import Pool
from app.portal.overview import DIVERTED_LABELS
from app.rollups import registry
from tests.browser import needs_browser, run_script
from tests.stats import factory
from tests.support.portal import PASSWORD, assign, make_user, owner_and_manager

# Alice's diverted clicks by reason (a bot's among them counts in no reason), and Bob's,
# which Alice's manager does not see.
ALICE = {"cap": 3, "targeting_country": 2, "paused": 1}
BOB = {"cap": 4, "targeting_device": 5}


async def _clicks(pool: Pool, catalog: dict[str, Any]) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    made = []
    for link, counts in ((catalog["alice_link"], ALICE), (catalog["bob_link"], BOB)):
        made += [factory.click(link, now - timedelta(minutes=m), currency="USD") for m in range(6)]
        for reason, count in counts.items():
            made += [
                factory.click(link, now - timedelta(minutes=i + 1), currency="USD", diverted=reason)
                for i in range(count)
            ]
        made.append(
            factory.click(link, now - timedelta(minutes=2), currency="USD", is_bot=True,
                          diverted="targeting_device")
        )  # fmt: skip
    assert await factory.store_clicks(pool, made) == len(made)


def _expected(counts: dict[str, int]) -> list[dict[str, Any]]:
    return [
        {"reason": r, "label": DIVERTED_LABELS[r], "clicks": str(counts.get(r, 0))}
        for r in registry.DIVERTED_REASONS
    ]


@needs_browser
@pytest.mark.timeout(180)
async def test_both_stats_screens_show_the_diverted_clicks_by_reason(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
    tracker: str,
    artifacts: Path,
) -> None:
    await _clicks(pool, catalog)
    _, mia = await owner_and_manager(app, client, admin, pool)
    await assign(client, admin, catalog["alice"]["id"], mia)
    await make_user(
        app,
        client,
        admin,
        pool,
        email="alice@example.com",
        role="affiliate",
        affiliate_id=catalog["alice"]["id"],
    )
    config = {"manager": "mia@example.com", "affiliate": "alice@example.com", "password": PASSWORD}

    seen = await run_script(
        Path(__file__).with_name("diverted.js"),
        tracker,
        orjson.dumps(config).decode(),
        seconds=150,
        SCREENSHOT_DIR=str(artifacts),
    )

    assert seen["problems"] == []
    assert seen["foreign"] == []
    api = await client.get(
        "/api/v1/stats", params={"affiliate": catalog["alice"]["id"]}, headers=admin
    )
    totals = api.json()["totals"]
    assert totals["diverted"] == sum(ALICE.values())
    for side in ("managerRows", "partnerRows"):
        rows = seen[side]
        assert all(r.pop("visible") for r in rows), side
        shares = [r.pop("share") for r in rows]
        assert rows == _expected(ALICE), side
        assert [r["clicks"] for r in rows] == [
            str(totals[f"diverted_{r}"]) for r in registry.DIVERTED_REASONS
        ]
        # Alice's 6 + 6 diverted human clicks: cap 3 of 12 is 25 %.
        assert shares[0] == "25.00 %", shares
    for side in ("managerTotal", "partnerTotal"):
        assert seen[side].startswith("6 of 12 clicks"), seen[side]
    assert "Diverted" in seen["partnerHeads"]
    assert not any(h.startswith("Diverted:") for h in seen["partnerHeads"])
    assert seen["partnerFits"]["pageWidth"] <= 390
