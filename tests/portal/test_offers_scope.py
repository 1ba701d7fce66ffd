"""The managers' offers screens over HTTP for a manager: every offer to read, without other
managers' affiliates' overrides and caps, and nothing to change."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from app.db import Pool
from tests.portal.test_offers_page import api_offer
from tests.support.portal import csrf_of, form_fields, make_manager, make_user, signed_in


async def test_a_manager_reads_offers_and_changes_none(
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
                {"metric": "clicks", "period": "month", "limit": 5000},
            ],
        },
        headers=admin,
    )
    assert patched.status_code == 200, patched.text
    before = patched.json()
    await make_manager(app, client, admin, pool, email="mia@example.com", affiliates=[alice])
    await make_user(
        app, client, admin, pool, email="alice@example.com", role="affiliate", affiliate_id=alice
    )
    async with signed_in(app, "mia@example.com") as person:
        listed = await person.get("/manage/offers")
        page = await person.get(f"/manage/offers/{offer_id}")
        token = csrf_of(page)
        fields = form_fields(page, "offer-form")
        new = await person.get("/manage/offers/new")
        refusals = [
            await person.post(
                "/manage/offers", data={**fields, "advertiser_id": str(catalog["advertiser"]["id"])}
            ),
            await person.post(f"/manage/offers/{offer_id}", data={**fields, "name": "Mine now"}),
            await person.post(
                f"/manage/offers/{offer_id}/status", data={"csrf_token": token, "action": "pause"}
            ),
        ]
    async with signed_in(app, "alice@example.com") as affiliate:
        for path in ("/manage/offers", f"/manage/offers/{offer_id}", "/manage/offers/new"):
            assert (await affiliate.get(path)).status_code == 404

    assert listed.status_code == 200
    assert "only an owner creates or changes them" in listed.text
    assert 'href="/manage/offers/new"' not in listed.text
    assert "5,000 clicks a month" in listed.text
    assert "for affiliates" not in listed.text  # Bob's cap: not hers to see
    assert page.status_code == 200
    assert '<fieldset class="whole" disabled>' in page.text
    assert 'id="save"' not in page.text
    assert fields["payout_overrides.0.affiliate_id"] == str(alice)
    assert fields["payout_overrides.0.value"] == "3.75"
    assert "payout_overrides.1.affiliate_id" not in fields
    assert "9.99" not in page.text
    assert "777" not in page.text
    assert new.status_code == 404
    for response in refusals:
        assert response.status_code == 403
        assert "only an owner" in response.text
    assert await api_offer(client, admin, offer_id) == before
