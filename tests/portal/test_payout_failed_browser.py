"""Mark failed on a payout's page in Chromium: the reason typed, the payout failed as
the API says, its money available again; the form fits a phone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from app.db import Pool
from tests.browser import needs_browser, run_script
from tests.payouts.test_routes import TODAY, _program
from tests.support.portal import PASSWORD, make_user


@needs_browser
@pytest.mark.timeout(180)
async def test_an_owner_marks_a_payout_failed_in_chromium(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    tracker: str,
    artifacts: Path,
) -> None:
    program = await _program(pool)
    await pool.execute('UPDATE affiliates SET payout_threshold = \'{"USD": "1"}\'')
    run = await client.post(
        "/api/v1/payout-runs", json={"currency": "USD", "up_to": TODAY}, headers=admin
    )
    assert run.status_code == 201, run.text
    payouts = (await client.get(f"/api/v1/payouts?run={run.json()['id']}", headers=admin)).json()
    first, other = (p["id"] for p in payouts["items"])
    await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    config: dict[str, Any] = {
        "owner": "owner@example.com",
        "password": PASSWORD,
        "payout": first,
        "other": other,
        "affiliates": program["affiliates"],
    }

    seen = await run_script(
        Path(__file__).with_name("payout_failed.js"),
        tracker,
        orjson.dumps(config).decode(),
        seconds=150,
        SCREENSHOT_DIR=str(artifacts),
    )

    assert seen["problems"] == []
    assert seen["foreign"] == []
    assert "failed" not in seen["before"]
    assert seen["reasonRequired"] is True
    assert seen["url"].endswith(f"/manage/payouts/{first}?done=failed:{first}")
    assert f"Payout {first} marked failed: its money is available again." in seen["notice"]
    assert seen["after"] == f"Payout {first} failed"
    assert "ReasonPayPal account closed" in seen["money"]  # <dt>Reason</dt><dd>…
    assert seen["forms"] == 0  # settled: neither form is offered again
    assert seen["api"]["status"] == 200
    assert seen["api"]["body"]["status"] == "failed"
    assert seen["api"]["body"]["failure_reason"] == "PayPal account closed"
    assert seen["phone"]["pageWidth"] <= 390
