"""The managers' affiliates screens in Chromium: the queue, a profile, a phone, a manager."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from app.db import Pool
from tests.browser import needs_browser, run_script
from tests.stats import factory
from tests.support.portal import PASSWORD, make_user


async def _applicant(client: httpx.AsyncClient, pool: Pool, name: str) -> int:
    email = f"{name.lower()}@aff.example"
    body = {"name": name, "email": email, "website": f"https://{name.lower()}.example"}
    assert (await client.post("/apply", json=body)).status_code == 202
    found: int = await pool.fetchval("SELECT id FROM affiliates WHERE email = $1", email)
    return found


@needs_browser
@pytest.mark.timeout(300)
async def test_the_affiliates_screens_in_chromium(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
    tracker: str,
    artifacts: Path,
) -> None:
    alice, bob = catalog["alice"]["id"], catalog["bob"]["id"]
    carol, dave = await _applicant(client, pool, "Carol"), await _applicant(client, pool, "Dave")
    at = datetime.now(UTC) - timedelta(days=3)
    clicks = [factory.click(catalog["alice_link"], at, currency="USD") for _ in range(5)]
    assert await factory.store_clicks(pool, clicks) == 5
    await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    mia = await make_user(app, client, admin, pool, email="mia@example.com", role="manager")
    assigned = await client.patch(
        f"/api/v1/affiliates/{alice}", json={"manager_id": mia["key_id"]}, headers=admin
    )
    assert assigned.status_code == 200, assigned.text
    today = datetime.now(UTC).date()
    config = {
        "owner": "owner@example.com",
        "manager": "mia@example.com",
        "password": PASSWORD,
        "alice": alice,
        "bob": bob,
        "carol": carol,
        "dave": dave,
        "today": today.isoformat(),
        "from": (today - timedelta(days=29)).isoformat(),
    }
    seen = await run_script(
        Path(__file__).with_name("affiliates.js"),
        tracker,
        orjson.dumps(config).decode(),
        seconds=240,
        SCREENSHOT_DIR=str(artifacts),
    )

    assert seen["problems"] == []
    assert seen["foreign"] == []
    assert seen["ownerQueue"] == ["Carol", "Dave"]
    assert seen["ownerList"] == ["Alice", "Bob", "Carol", "Dave"]

    # Approved from the queue: gone from it, active on the page and in the API.
    assert f"Affiliate {carol} approved." in seen["approved"]["notice"]
    assert seen["approved"]["queue"] == ["Dave"]
    assert seen["approved"]["status"] == "active"
    assert seen["approved"]["api"]["body"]["status"] == "active"
    # The tokenless form: refused, Dave as he was.
    assert seen["csrf"]["status"] == 403
    assert "security token" in seen["csrf"]["text"]
    assert seen["daveApi"]["body"]["status"] == "applied"

    # The profile: the stats API's numbers, her link, the note.
    assert seen["profileUrl"].endswith(f"/manage/affiliates/{alice}")
    api_totals = seen["statsApi"]["body"]["totals"]
    assert seen["stats"]["clicks"] == str(api_totals["clicks"]) == "5"
    assert seen["stats"]["conversions"] == str(api_totals["conversions"])
    assert seen["links"] == [catalog["alice_link"]["tracking_url"]]
    assert seen["notes"][-1].endswith("Wants a banner for the spring sale")
    api_notes = await client.get(f"/api/v1/affiliates/{alice}/notes", headers=admin)
    assert [n["text"] for n in api_notes.json()["items"]] == ["Wants a banner for the spring sale"]

    # On a phone: the page no wider than the screen; wide tables scroll in their box.
    for screen in ("phoneList", "phoneProfile"):
        assert seen[screen]["pageWidth"] <= 390, screen
        for box in seen[screen]["boxes"]:
            assert box["width"] <= 390
    assert any(b["scroll"] > b["width"] for b in seen["phoneList"]["boxes"])

    # The manager: Alice only.
    assert seen["managerList"] == ["Alice"]
    assert "Bob" not in seen["managerText"]
    assert seen["managerOther"]["status"] == 404
    assert "Bob" not in seen["managerOther"]["text"]
    for name in (
        "manage-affiliates",
        "manage-affiliate",
        "manage-affiliates-390",
        "manage-affiliate-390",
        "manager-affiliates",
    ):
        assert (artifacts / f"{name}.png").stat().st_size > 10_000
