"""The affiliate's offers and links screens in Chromium: what it sees, the generator's URL
that redirects, the Copy button, and what it may not do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from app.db import Pool
from tests.browser import needs_browser, run_script
from tests.portal.test_partner_links import more_offers
from tests.support.portal import PASSWORD, make_user


@needs_browser
@pytest.mark.timeout(240)
async def test_the_affiliates_offers_and_links_in_chromium(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
    tracker: str,
    artifacts: Path,
) -> None:
    offers = await more_offers(client, admin, catalog)
    boots = offers["boots"]["id"]
    await make_user(
        app,
        client,
        admin,
        pool,
        email="alice@example.com",
        role="affiliate",
        affiliate_id=catalog["alice"]["id"],
    )
    config = {
        "affiliate": "alice@example.com",
        "password": PASSWORD,
        "offer": boots,
        "sub1": "spring sale",
        "bobLink": catalog["bob_link"]["id"],
    }
    seen = await run_script(
        Path(__file__).with_name("partner_links.js"),
        tracker,
        orjson.dumps(config).decode(),
        seconds=200,
        SCREENSHOT_DIR=str(artifacts),
    )

    assert seen["problems"] == []
    assert seen["foreign"] == []
    assert seen["conversions"] == {"title": "Conversions", "empty": True}
    # The offers open to Alice, with her payout; not the paused one.
    shown = {o["id"]: o for o in seen["offers"]}
    assert set(shown) == {catalog["offer"]["id"], boots}
    assert shown[boots]["payout"] == "3.75 EUR"
    assert shown[catalog["offer"]["id"]]["payout"] == "2.50 USD"
    assert "Sandals" not in seen["offersText"]

    # The generator, opened from the offer: its link, the URL shown and copied.
    assert seen["chosen"] == str(boots)
    link = await pool.fetchrow(
        "SELECT id, code, affiliate_id FROM links WHERE offer_id = $1", boots
    )
    assert link is not None
    assert link["affiliate_id"] == catalog["alice"]["id"]
    assert seen["madePath"] == f"/partner/links/{link['id']}"
    # The program's public URL (the app's settings), as the affiliate will share it.
    assert (
        seen["made"] == f"http://tracker.test/c/{link['code']}?sub1=spring%20sale&sub2={{clickid}}"
    )
    assert seen["clipboard"] == seen["made"]
    assert seen["copyStatus"] == "Copied to the clipboard."
    assert link["id"] in seen["links"]
    assert catalog["bob_link"]["id"] not in seen["links"]
    # ...and it redirects: the same URL at the server on loopback.
    async with httpx.AsyncClient() as outside:
        click = await outside.get(seen["made"].replace("http://tracker.test", tracker))
    assert click.status_code == 302
    assert click.headers["location"].startswith("https://boots.example/shop/spring%20sale/")

    assert seen["csrf"]["status"] == 403
    assert "security token" in seen["csrf"]["text"]
    assert await pool.fetchval("SELECT count(*) FROM links WHERE offer_id = $1", boots) == 1
    assert seen["other"]["status"] == 404
    assert catalog["bob_link"]["code"] not in seen["other"]["text"]

    # On a phone: nothing spills off the page; the links table scrolls inside its box.
    assert seen["phoneOffers"]["pageWidth"] <= 390
    assert seen["phoneLinks"]["pageWidth"] <= 390
    assert seen["phoneLinks"]["boxScroll"] > seen["phoneLinks"]["boxWidth"]
    assert seen["phoneConversions"]["pageWidth"] <= 390
    for name in ("partner-offers", "partner-links", "partner-offers-390", "partner-links-390"):
        assert (artifacts / f"{name}.png").stat().st_size > 10_000
