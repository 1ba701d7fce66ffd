"""The managers' offers and links screens in Chromium: an offer made through the form (a
refused field first), paused and activated, a link made and copied that redirects, a
phone, and what a manager may see and do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from app.db import Pool
from tests.browser import needs_browser, run_script
from tests.support.portal import PASSWORD, make_manager, make_user


@needs_browser
@pytest.mark.timeout(300)
async def test_the_offers_and_links_screens_in_chromium(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
    tracker: str,
    artifacts: Path,
) -> None:
    alice, bob = catalog["alice"]["id"], catalog["bob"]["id"]
    await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    await make_manager(app, client, admin, pool, email="mia@example.com", affiliates=[alice])
    config = {
        "owner": "owner@example.com",
        "manager": "mia@example.com",
        "password": PASSWORD,
        "advertiser": catalog["advertiser"]["id"],
        "bob": bob,
    }
    seen = await run_script(
        Path(__file__).with_name("offers_links.js"),
        tracker,
        orjson.dumps(config).decode(),
        seconds=260,
        SCREENSHOT_DIR=str(artifacts),
    )

    assert seen["problems"] == []
    assert seen["foreign"] == []
    assert seen["listBefore"] == ["Acme Shoes"]
    # The refused payout: said beside its field, as the API says it; the rest kept.
    assert "The offer was not saved" in seen["refused"]["alert"]
    assert seen["refused"]["payout"] == "a percent rule must be between 0 and 100"
    assert seen["refused"]["errorVisible"]
    assert seen["refused"]["invalid"] == "true"
    assert seen["refused"]["kept"] == "lead"
    # Made: what the API now holds is what was typed.
    offer_id = seen["offerId"]
    assert seen["createdUrl"].endswith(f"/manage/offers/{offer_id}?done=created")
    assert seen["notice"] == "Offer created."
    made = seen["createdApi"]["body"]
    assert (made["name"], made["currency"], made["status"]) == ("Boots", "EUR", "active")
    assert made["payout"] == {"type": "fixed", "value": "3.40"}
    assert [g["name"] for g in made["goals"]] == ["lead"]
    assert made["caps"] == [
        {"metric": "clicks", "period": "day", "limit": 1000, "affiliate_id": None}
    ]
    assert made["payout_overrides"] == [
        {"affiliate_id": bob, "type": "fixed", "value": "4.20", "recurring": None}
    ]
    assert "last changed" in seen["changed"]
    assert seen["paused"] == {"badge": "paused", "api": "paused"}
    assert seen["activated"] == {"badge": "active", "api": "active"}
    assert seen["row"] == {"payout": "3.40 EUR", "caps": "1,000 clicks a day", "status": "active"}

    # The link: made by the links service, its URL copied, and it redirects.
    link = await pool.fetchrow(
        "SELECT id, code, affiliate_id FROM links WHERE offer_id = $1", offer_id
    )
    assert link is not None
    assert link["affiliate_id"] == bob
    assert seen["madePath"] == f"/manage/links/{link['id']}"
    assert seen["madeTitle"] == "Bob on Boots"
    assert seen["made"] == f"http://tracker.test/c/{link['code']}?sub1=spring%20sale&source={{src}}"
    assert seen["clipboard"] == seen["made"]
    assert seen["copyStatus"] == "Copied to the clipboard."
    assert seen["links"] == [item["id"] for item in seen["linksApi"]["body"]["items"]]
    async with httpx.AsyncClient() as outside:
        click = await outside.get(seen["made"].replace("http://tracker.test", tracker))
    assert click.status_code == 302
    location = click.headers["location"]
    assert location.startswith("https://boots.example/in?cid=")
    assert location.endswith("&s1=spring%20sale")
    assert seen["csrf"]["status"] == 403
    assert "security token" in seen["csrf"]["text"]
    assert await pool.fetchval("SELECT count(*) FROM links") == 3

    # On a phone: the page no wider than the screen; wide tables scroll in their box.
    for screen in ("phoneOffers", "phoneOffer", "phoneLinks"):
        assert seen[screen]["pageWidth"] <= 390, screen
        for box in seen[screen]["boxes"]:
            assert box["width"] <= 390
    assert any(b["scroll"] > b["width"] for b in seen["phoneOffer"]["boxes"])

    # The manager: the offer to read only, without Bob's override; Alice's link only.
    assert seen["managerOffer"]["disabled"]
    assert seen["managerOffer"]["editable"] == 0
    assert not seen["managerOffer"]["save"]
    assert not seen["managerOffer"]["pause"]
    assert str(bob) not in seen["managerOffer"]["overrides"]
    assert "4.20" not in seen["managerOffer"]["text"]
    assert seen["managerLinks"] == [catalog["alice_link"]["id"]]
    assert seen["managerChoices"] == [str(alice)]
    for name in (
        "manage-offers",
        "manage-offer-refused",
        "manage-offer",
        "manage-links",
        "manage-offers-390",
        "manage-offer-390",
        "manage-links-390",
        "manager-offer",
        "manager-links",
    ):
        assert (artifacts / f"{name}.png").stat().st_size > 10_000
