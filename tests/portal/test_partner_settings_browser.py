"""The affiliate's settings in Chromium: a postback saved and tested, payment details
saved and shown masked, on a desk and on a phone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from app.db import Pool
from tests.browser import needs_browser, run_script
from tests.portal.test_partner_settings import settings
from tests.sender.receiver import Receiver
from tests.support.portal import PASSWORD, make_user

__all__ = ["settings"]  # the sender allowed to reach the loopback receiver


@needs_browser
@pytest.mark.timeout(300)
async def test_the_settings_screen_in_chromium(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
    receiver: Receiver,
    tracker: str,
    artifacts: Path,
) -> None:
    alice = catalog["alice"]["id"]
    email = "alice@example.com"
    await make_user(app, client, admin, pool, email=email, role="affiliate", affiliate_id=alice)
    config = {
        "email": email,
        "password": PASSWORD,
        "postback": f"{receiver.base_url}/pb?cid={{click_id}}&s={{status}}",
    }
    seen = await run_script(
        Path(__file__).with_name("partner_settings.js"),
        tracker,
        orjson.dumps(config).decode(),
        seconds=200,
        SCREENSHOT_DIR=str(artifacts),
    )

    assert seen["problems"] == []
    assert seen["foreign"] == []
    assert seen["headings"] == ["Postback", "Profile", "Payment details"]
    assert seen["saved"] == "Postback saved."
    assert seen["tried"]["visible"]
    assert seen["tried"]["text"].startswith("Delivered: HTTP 200")
    assert [r.target for r in receiver.on("/pb")] == ["/pb?cid=test&s=approved"]
    api = (await client.get(f"/api/v1/affiliates/{alice}", headers=admin)).json()
    assert api["postback_on"] == "all"
    assert seen["payment"] == ["paypal", api["payment"]["email"]]
    assert "alice.payouts@example.com" not in seen["payment"]
    assert seen["phoneWidth"] <= 390
    for name in ("partner-settings", "partner-settings-390"):
        assert (artifacts / f"{name}.png").stat().st_size > 10_000
