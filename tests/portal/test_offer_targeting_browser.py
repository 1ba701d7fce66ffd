"""The offer form's targeting in Chromium: a refused country code said beside its field,
then countries and devices saved as typed, and a click from outside them sent to the
fallback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from app.db import Pool
from tests.browser import needs_browser, run_script
from tests.helpers import reload_links
from tests.support.portal import PASSWORD, make_user


@needs_browser
@pytest.mark.timeout(200)
async def test_the_offer_targeting_form_in_chromium(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
    tracker: str,
    artifacts: Path,
) -> None:
    await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    config = {"owner": "owner@example.com", "password": PASSWORD, "offer": catalog["offer"]["id"]}
    seen = await run_script(
        Path(__file__).with_name("offer_targeting.js"),
        tracker,
        orjson.dumps(config).decode(),
        seconds=160,
        SCREENSHOT_DIR=str(artifacts),
    )

    assert seen["problems"] == []
    assert seen["foreign"] == []
    assert seen["labels"][:2] == ["Countries", "Country codes"]
    assert "The offer was not saved" in seen["refused"]["alert"]
    assert (
        "'at' is not an ISO 3166-1 alpha-2 country code (upper case)"
        in (seen["refused"]["countries"])
    )
    assert seen["refused"]["invalid"] == "true"
    assert (seen["refused"]["kept"], seen["refused"]["mobile"]) == ("DE, at", True)
    assert seen["notice"] == "Offer saved."
    assert seen["saved"] == {
        "countries": ["DE", "AT"],
        "country_mode": "allow",
        "devices": ["mobile", "tablet"],
    }
    assert seen["shown"] == {
        "countries": "DE AT",
        "mode": "allow",
        "desktop": False,
        "mobile": True,
        "tablet": True,
    }
    assert seen["phone"]["pageWidth"] <= 390

    # The saved targeting reaches the redirect: this desktop click from a loopback
    # address (no country) is outside it, so it goes to the fallback.
    await reload_links(app)
    async with httpx.AsyncClient() as outside:
        click = await outside.get(
            f"{tracker}/c/{catalog['alice_link']['code']}",
            headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"},
        )
    assert click.status_code == 302
    assert click.headers["location"] == "https://shop.example/"
    for name in (
        "manage-offer-targeting-refused",
        "manage-offer-targeting",
        "manage-offer-targeting-390",
    ):
        assert (artifacts / f"{name}.png").stat().st_size > 10_000
