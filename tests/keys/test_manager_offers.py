"""A manager's session reads the offers through the API as the portal shows them: without
the payout overrides and caps of affiliates not theirs; writing offers stays the owners'."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from app.db import Pool
from tests.helpers import assert_error
from tests.support.portal import csrf_of, make_manager, signed_in


async def test_a_manager_reads_offers_without_others_overrides_and_caps(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    alice, bob = catalog["alice"]["id"], catalog["bob"]["id"]
    offer_id = catalog["offer"]["id"]
    patched = await client.patch(
        f"/api/v1/offers/{offer_id}",
        json={
            "payout_overrides": [
                {"affiliate_id": alice, "type": "fixed", "value": "3.75"},
                {"affiliate_id": bob, "type": "fixed", "value": "9.99"},
            ],
            "caps": [
                {"metric": "clicks", "period": "day", "limit": 777, "affiliate_id": bob},
                {"metric": "clicks", "period": "month", "limit": 888, "affiliate_id": alice},
                {"metric": "clicks", "period": "month", "limit": 5000},
            ],
        },
        headers=admin,
    )
    assert patched.status_code == 200, patched.text
    await make_manager(app, client, admin, pool, email="mia@example.com", affiliates=[alice])
    async with signed_in(app, "mia@example.com") as mia:
        mia.headers["X-CSRF-Token"] = csrf_of(await mia.get("/manage"))
        one = await mia.get(f"/api/v1/offers/{offer_id}")
        listed = await mia.get("/api/v1/offers")
        writes = [
            await mia.patch(f"/api/v1/offers/{offer_id}", json={"name": "Mine now"}),
            await mia.delete(f"/api/v1/offers/{offer_id}"),
            await mia.post("/api/v1/offers", json={}),
        ]
    assert one.status_code == 200, one.text
    assert listed.status_code == 200, listed.text
    [in_list] = [o for o in listed.json()["items"] if o["id"] == offer_id]
    for offer in (one.json(), in_list):
        assert [o["affiliate_id"] for o in offer["payout_overrides"]] == [alice]
        assert [(c["affiliate_id"], c["limit"]) for c in offer["caps"]] == [
            (alice, 888),
            (None, 5000),
        ]
        assert "9.99" not in str(offer)
    for refused in writes:
        assert_error(refused, 403, "owner_only")
    # An owner still reads every override and cap.
    owners = (await client.get(f"/api/v1/offers/{offer_id}", headers=admin)).json()
    assert len(owners["payout_overrides"]) == 2
    assert len(owners["caps"]) == 3
