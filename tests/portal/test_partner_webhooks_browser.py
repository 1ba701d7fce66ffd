"""The affiliate's webhooks screen in Chromium: an endpoint made (its secret shown once),
disabled and enabled, a test event sent and listed, on a desk and on a phone; the test
event then reaches the affiliate's receiver signed with the secret the page showed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from app.db import Pool
from app.sender.engine import Sender
from app.settings import Settings
from tests.browser import needs_browser, run_script
from tests.portal.test_partner_settings import settings
from tests.sender.receiver import Receiver
from tests.support.portal import PASSWORD, make_user
from tests.webhooks.test_service import verified

__all__ = ["settings"]  # the sender allowed to reach the loopback receiver


@needs_browser
@pytest.mark.timeout(300)
async def test_the_webhooks_screen_in_chromium(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    settings: Settings,
    catalog: dict[str, Any],
    receiver: Receiver,
    tracker: str,
    artifacts: Path,
) -> None:
    alice = catalog["alice"]["id"]
    email = "alice@example.com"
    await make_user(app, client, admin, pool, email=email, role="affiliate", affiliate_id=alice)
    url = f"{receiver.base_url}/hooks"
    config = {"email": email, "password": PASSWORD, "url": url}
    seen = await run_script(
        Path(__file__).with_name("partner_webhooks.js"),
        tracker,
        orjson.dumps(config).decode(),
        seconds=260,
        SCREENSHOT_DIR=str(artifacts),
    )

    assert seen["problems"] == []
    assert seen["foreign"] == []
    assert seen["empty"]
    assert seen["refused"].startswith("events: ")
    [endpoint] = (await client.get("/api/v1/webhooks", headers=admin)).json()["items"]
    assert (endpoint["affiliate_id"], endpoint["url"], endpoint["description"]) == (
        alice,
        url,
        "my server",
    )
    assert endpoint["events"] == ["conversion.created", "payout.paid"]
    assert seen["rows"] == [str(endpoint["id"])]
    assert seen["madeTitle"] == f"Endpoint {endpoint['id']} made: copy its signing secret now"
    assert seen["secret"].startswith("whsec_")
    assert seen["copyShown"]
    assert seen["secretGone"]
    assert seen["tested"].startswith(f"Test event sent to endpoint {endpoint['id']}")
    assert seen["deliveries"] == [["webhook.test", str(endpoint["id"]), "pending"]]
    assert (seen["disabled"], seen["enabled"]) == ("disabled", "enabled")
    assert not seen["testWhileDisabled"]
    assert seen["phone"]["pageWidth"] <= 390
    for box in seen["phone"]["boxes"]:
        assert box["width"] <= 390

    # The test event goes out signed with the secret the page showed once.
    sender = Sender(pool, settings)
    try:
        assert await sender.run_once() == 1
    finally:
        await sender.aclose()
    [request] = receiver.on("/hooks")
    assert verified(seen["secret"], request)["type"] == "webhook.test"
    for name in (
        "partner-webhooks-empty",
        "partner-webhooks-made",
        "partner-webhooks",
        "partner-webhooks-390",
    ):
        assert (artifacts / f"{name}.png").stat().st_size > 10_000
