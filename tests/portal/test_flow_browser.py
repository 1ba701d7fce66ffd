"""The program's whole relationship in Chromium: a visitor applies at /join, the owner
approves them, the new affiliate signs in from the invite and makes a link, a click and
the advertiser's postback arrive, the conversion shows in both views, and the owner's
approval shows in the affiliate's."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from fastapi import FastAPI

from app.db import Pool
from app.settings import Settings
from tests.browser import needs_browser, run_script
from tests.support.conversions import BROWSER, make_shop, postback, run_worker
from tests.support.portal import PASSWORD, mailed_path, make_user

NAME, EMAIL = "Nora Media", "nora@aff.example"


async def _phase(tracker: str, phase: str, artifacts: Path, **config: Any) -> dict[str, Any]:
    seen: dict[str, Any] = await run_script(
        Path(__file__).with_name("flow.js"),
        tracker,
        phase,
        orjson.dumps(config).decode(),
        seconds=120,
        SCREENSHOT_DIR=str(artifacts),
    )
    assert seen.pop("problems") == [], phase
    assert seen.pop("foreign") == [], phase
    return seen


@needs_browser
@pytest.mark.timeout(400)
async def test_apply_approve_link_click_postback_approve(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    settings: Settings,
    tracker: str,
    artifacts: Path,
) -> None:
    shop = await make_shop(client, admin)
    owner = await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    people = {"owner": "owner@example.com", "password": PASSWORD, "name": NAME, "email": EMAIL}

    applied = await _phase(tracker, "apply", artifacts, **people)
    assert "application is in" in applied["sent"]
    assert NAME in applied["queue"]
    affiliate = await pool.fetchrow("SELECT id, status FROM affiliates WHERE email = $1", EMAIL)
    assert affiliate is not None
    assert affiliate["status"] == "active"
    assert applied["notice"] == f"Affiliate {affiliate['id']} approved."
    assert applied["queueAfter"] == 0

    user_id = await pool.fetchval("SELECT id FROM users WHERE affiliate_id = $1", affiliate["id"])
    invite = await mailed_path(pool, user_id, "user_invite")
    linked = await _phase(
        tracker, "link", artifacts, **people, invite=invite, offer=shop["offer"]["id"]
    )
    assert linked["home"] == "/partner"
    made = urlsplit(linked["url"])
    assert made.path.startswith("/c/")
    assert "sub1=spring" in made.query

    # The visitor's click on the link, as a browser sends it, and the advertiser's postback.
    async with httpx.AsyncClient(base_url=tracker, headers={"User-Agent": BROWSER}) as visitor:
        redirect = await visitor.get(f"{made.path}?{made.query}")
    assert redirect.status_code == 302
    click_id = redirect.cookies[settings.click_cookie]
    assert click_id in redirect.headers["location"]
    await run_worker(settings)
    answer = await postback(
        client, shop["token"], click_id=click_id, txid="NORA-1", amount="80", status="pending"
    )
    assert answer.status_code == 200, answer.text
    await run_worker(settings)
    conversion = await pool.fetchrow(
        "SELECT id, affiliate_id, status, sub1 FROM conversions WHERE txid = 'NORA-1'"
    )
    assert conversion is not None
    assert (conversion["affiliate_id"], conversion["status"], conversion["sub1"]) == (
        affiliate["id"],
        "pending",
        "spring",
    )

    seen = await _phase(tracker, "convert", artifacts, **people, conversion=conversion["id"])
    # The affiliate's view: pending, their payout, no revenue anywhere on the row.
    assert seen["partnerBefore"][2].startswith("pending")
    assert "2.50" in seen["partnerBefore"][5]
    assert "4.00" not in " ".join(seen["partnerBefore"])
    assert seen["ownerBefore"][3].startswith("pending")
    assert seen["ownerAfter"][3].startswith("approved")
    assert seen["partnerAfter"][2].startswith("approved")
    today = {metric: (raw, unit) for metric, raw, unit, _ in seen["today"]}
    assert today["clicks"][0] == "1"
    assert today["conversions"][0] == "1"
    assert today["payout"] == ("2.50", shop["offer"]["currency"])
    assert "revenue" not in today

    record = (await client.get(f"/api/v1/conversions/{conversion['id']}", headers=admin)).json()
    assert record["status"] == "approved"
    history = (
        await client.get(f"/api/v1/conversions/{conversion['id']}/history", headers=admin)
    ).json()
    assert history[-1]["changed_by"] == f"admin:{owner['key_id']}"
    for name in ("flow-applied", "flow-approved", "flow-link", "flow-owner-approved"):
        assert (artifacts / f"{name}.png").stat().st_size > 10_000
