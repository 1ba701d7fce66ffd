"""The managers' offers screens over HTTP: an offer made and changed with every field the
offers API takes, the API's refusals beside their fields, Pause and Activate, and forms
without their token (a manager's reach: test_offers_scope.py)."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
from fastapi import FastAPI

from app.db import Pool
from tests.support.portal import (
    csrf_of,
    form_fields,
    make_user,
    signed_in,
)


async def _owner(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    await make_user(app, client, admin, pool, email="owner@example.com", role="owner")


def _errors_of(page: httpx.Response, name: str) -> str:
    """The messages shown beside the field `name` (its error element's text)."""
    key = name.replace(".", "-")
    match = re.search(
        rf'class="errors" id="e-{re.escape(key)}">(.*?)</(?:p|span)>', page.text, re.S
    )
    assert match, f"no error place for {name}"
    return html.unescape(re.sub(r"<[^>]+>", " ", match[1])).strip()


async def api_offer(
    client: httpx.AsyncClient, admin: dict[str, str], offer_id: int
) -> dict[str, Any]:
    response = await client.get(f"/api/v1/offers/{offer_id}", headers=admin)
    assert response.status_code == 200, response.text
    offer: dict[str, Any] = response.json()
    return offer


async def test_the_owner_makes_an_offer_with_everything_the_api_takes(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    alice = catalog["alice"]["id"]
    await _owner(app, client, admin, pool)
    async with signed_in(app, "owner@example.com") as person:
        page = await person.get("/manage/offers/new")
        assert page.status_code == 200
        assert 'href="/manage/offers" aria-current="page"' in page.text
        fields = form_fields(page, "offer-form")
        # The API's defaults, and empty rows to fill in.
        assert fields["attribution_window_hours"] == "720"
        assert fields["hold_days"] == "30"
        assert fields["lifetime_days"] == "365"
        assert fields["currency"] == "USD"
        assert "goals.1.name" in fields
        fields.update(
            {
                "name": "Boots",
                "advertiser_id": str(catalog["advertiser"]["id"]),
                "status": "paused",
                "url": "https://boots.example/in?cid={click_id}&s1={sub1}",
                "fallback_url": "https://boots.example/",
                "currency": "EUR",
                "attribution_window_hours": "48",
                "main_goal": "sale",
                "main_goal_multiple": "on",
                "revenue.type": "percent",
                "revenue.value": "10",
                "payout.type": "fixed",
                "payout.value": "2.50",
                "allow_payout_param": "on",
                "max_amount": "500",
                "goals.0.name": "lead",
                "goals.0.revenue.value": "1.00",
                "goals.0.payout.value": "0.40",
                "goals.0.allow_multiple": "on",
                "payout_overrides.1.affiliate_id": str(alice),
                "payout_overrides.1.value": "3.75",
                "payout_overrides.1.recurring.type": "fixed",
                "payout_overrides.1.recurring.value": "1.25",
                "caps.0.metric": "clicks",
                "caps.0.period": "day",
                "caps.0.limit": "1000",
                "caps.1.metric": "conversions",
                "caps.1.period": "month",
                "caps.1.limit": "50",
                "caps.1.affiliate_id": str(alice),
                "pixel_policy": "deny",
                "pixel_status": "approved",
                "attribution_model": "first_click",
                "lifetime_days": "",
                "recurring_payout.type": "percent",
                "recurring_payout.value": "5",
                "recurring_limit": "3",
                "hold_days": "14",
            }
        )
        made = await person.post("/manage/offers", data=fields)
        assert made.status_code == 303, made.text
        location = made.headers["location"]
        offer_id = int(location.split("/")[-1].split("?")[0])
        assert location == f"/manage/offers/{offer_id}?done=created"
        shown = await person.get(location)
        listed = await person.get("/manage/offers")

    offer = await api_offer(client, admin, offer_id)
    assert {k: offer[k] for k in ("name", "status", "currency", "attribution_window_hours")} == {
        "name": "Boots",
        "status": "paused",
        "currency": "EUR",
        "attribution_window_hours": 48,
    }
    assert offer["fallback_url"] == "https://boots.example/"
    assert (offer["main_goal"], offer["main_goal_multiple"]) == ("sale", True)
    assert offer["revenue"] == {"type": "percent", "value": "10.00"}
    assert offer["payout"] == {"type": "fixed", "value": "2.50"}
    assert (offer["allow_payout_param"], offer["max_amount"]) == (True, "500.00")
    assert offer["goals"] == [
        {
            "name": "lead",
            "revenue": {"type": "fixed", "value": "1.00"},
            "payout": {"type": "fixed", "value": "0.40"},
            "allow_multiple": True,
        }
    ]
    assert offer["payout_overrides"] == [
        {
            "affiliate_id": alice,
            "type": "fixed",
            "value": "3.75",
            "recurring": {"type": "fixed", "value": "1.25"},
        }
    ]
    assert offer["caps"] == [
        {"metric": "clicks", "period": "day", "limit": 1000, "affiliate_id": None},
        {"metric": "conversions", "period": "month", "limit": 50, "affiliate_id": alice},
    ]
    assert (offer["pixel_policy"], offer["pixel_status"]) == ("deny", "approved")
    assert (offer["attribution_model"], offer["lifetime_days"]) == ("first_click", None)
    assert offer["recurring_payout"] == {"type": "percent", "value": "5.00"}
    assert (offer["recurring_limit"], offer["hold_days"]) == (3, 14)

    assert "Offer created." in shown.text
    again = form_fields(shown, "offer-form")
    assert again["goals.0.name"] == "lead"
    assert again["payout_overrides.0.affiliate_id"] == str(alice)
    assert again["caps.1.limit"] == "50"
    assert again["lifetime_days"] == ""
    assert "Activate" in shown.text  # paused
    assert "not who changed it" in shown.text
    row = re.search(rf'<tr data-id="{offer_id}">(.*?)</tr>', listed.text, re.S)
    assert row, listed.text
    assert "2.50 EUR" in row[1]
    assert "1,000 clicks a day; 1 for affiliates" in row[1]
    assert "Acme" in row[1]


async def test_the_apis_refusals_show_beside_their_fields_and_nothing_changes(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    offer_id = catalog["offer"]["id"]
    before = await api_offer(client, admin, offer_id)
    await _owner(app, client, admin, pool)
    async with signed_in(app, "owner@example.com") as person:
        page = await person.get(f"/manage/offers/{offer_id}")
        assert page.status_code == 200
        fields = form_fields(page, "offer-form")
        assert fields["name"] == "Acme Shoes"
        assert fields["payout.value"] == "2.50"
        bad = {
            **fields,
            "name": "Acme Boots",
            "payout.type": "percent",
            "payout.value": "150",
            "goals.1.name": "bad name!",
            "goals.1.payout.value": "1.00",
            "goals.1.revenue.value": "2",
            "caps.0.limit": "lots",
            "url": "ftp://shop.example/",
        }
        refused = await person.post(f"/manage/offers/{offer_id}", data=bad)
        # The API says the same of the same body.
        api = await client.patch(
            f"/api/v1/offers/{offer_id}",
            json={"payout": {"type": "percent", "value": "150"}},
            headers=admin,
        )
        # A rule across the list's rows: at the list; a reference: at its field.
        twice = {
            **fields,
            "goals.0.name": "lead",
            "goals.0.payout.value": "1",
            "goals.0.revenue.value": "1",
        }
        twice.update(
            {"goals.1.name": "lead", "goals.1.payout.value": "1", "goals.1.revenue.value": "1"}
        )
        duplicate = await person.post(f"/manage/offers/{offer_id}", data=twice)
        unknown = await person.post(
            f"/manage/offers/{offer_id}",
            data={
                **fields,
                "payout_overrides.0.affiliate_id": "999999",
                "payout_overrides.0.value": "1",
            },
        )
        blank = await person.post(
            f"/manage/offers/{offer_id}", data={**fields, "attribution_window_hours": " "}
        )

    assert refused.status_code == 400
    assert "The offer was not saved" in refused.text
    assert api.json()["error"]["message"] == "payout: a percent rule must be between 0 and 100"
    assert _errors_of(refused, "payout.value") == "a percent rule must be between 0 and 100"
    assert "String should match pattern" in _errors_of(refused, "goals.1.name")
    assert _errors_of(refused, "caps.0.limit") == "Input should be a valid integer"
    assert _errors_of(refused, "url") != ""
    assert _errors_of(refused, "name") == ""
    # The form again as it was sent, the rows where they were.
    again = form_fields(refused, "offer-form")
    assert (again["name"], again["goals.1.name"], again["caps.0.limit"]) == (
        "Acme Boots",
        "bad name!",
        "lots",
    )
    assert duplicate.status_code == 400
    assert (
        "goal names must be unique"
        in duplicate.text.split('id="h-goals"')[1].split("</section>")[0]
    )
    assert unknown.status_code == 409
    assert (
        _errors_of(unknown, "payout_overrides.0.affiliate_id") == "affiliate 999999 does not exist"
    )
    assert blank.status_code == 400
    assert _errors_of(blank, "attribution_window_hours") == "may not be null"
    assert await api_offer(client, admin, offer_id) == before


async def test_the_owner_edits_pauses_and_activates(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    offer_id = catalog["offer"]["id"]
    made = await client.patch(
        f"/api/v1/offers/{offer_id}",
        json={
            "goals": [
                {
                    "name": "lead",
                    "revenue": {"type": "fixed", "value": "1"},
                    "payout": {"type": "fixed", "value": "0.5"},
                },
                {
                    "name": "trial",
                    "revenue": {"type": "fixed", "value": "2"},
                    "payout": {"type": "fixed", "value": "1"},
                },
            ],
            "max_amount": "99",
        },
        headers=admin,
    )
    assert made.status_code == 200, made.text
    await _owner(app, client, admin, pool)
    async with signed_in(app, "owner@example.com") as person:
        page = await person.get(f"/manage/offers/{offer_id}")
        fields = form_fields(page, "offer-form")
        assert fields["goals.1.name"] == "trial"
        token = csrf_of(page)
        # Without the token, each form is refused and changes nothing.
        tokenless = {k: v for k, v in fields.items() if k != "csrf_token"}
        for path, data in (
            (f"/manage/offers/{offer_id}", {**tokenless, "name": "Changed"}),
            (f"/manage/offers/{offer_id}/status", {"action": "pause"}),
            ("/manage/offers", {**tokenless, "advertiser_id": str(catalog["advertiser"]["id"])}),
            (f"/manage/offers/{offer_id}/status", {"action": "pause", "csrf_token": "forged" * 8}),
        ):
            response = await person.post(path, data=data)
            assert response.status_code == 403, path
            assert "security token" in response.text
        # Blanking a row removes that goal; blank max_amount removes the limit.
        edit = {
            **fields,
            "name": "Acme Shoes II",
            "goals.0.name": "",
            "goals.0.revenue.value": "",
            "goals.0.payout.value": "",
            "max_amount": "",
        }
        saved = await person.post(f"/manage/offers/{offer_id}", data=edit)
        assert saved.status_code == 303, saved.text
        assert saved.headers["location"] == f"/manage/offers/{offer_id}?done=saved"
        after_edit = await api_offer(client, admin, offer_id)
        paused = await person.post(
            f"/manage/offers/{offer_id}/status", data={"csrf_token": token, "action": "pause"}
        )
        assert paused.headers["location"] == f"/manage/offers/{offer_id}?done=paused"
        paused_page = await person.get(paused.headers["location"])
        status_paused = (await api_offer(client, admin, offer_id))["status"]
        activated = await person.post(
            f"/manage/offers/{offer_id}/status", data={"csrf_token": token, "action": "activate"}
        )
        unknown = await person.post(
            f"/manage/offers/{offer_id}/status", data={"csrf_token": token, "action": "archive"}
        )
        missing = await person.get("/manage/offers/999999")
        junk = await person.get("/manage/offers/1x")
        missing_post = await person.post(
            "/manage/offers/999999/status", data={"csrf_token": token, "action": "pause"}
        )

    assert after_edit["name"] == "Acme Shoes II"
    assert [g["name"] for g in after_edit["goals"]] == ["trial"]
    assert after_edit["max_amount"] is None
    assert after_edit["payout"] == catalog["offer"]["payout"]
    assert status_paused == "paused"
    assert "Offer paused." in paused_page.text
    assert activated.headers["location"] == f"/manage/offers/{offer_id}?done=active"
    assert (await api_offer(client, admin, offer_id))["status"] == "active"
    assert unknown.status_code == 403
    assert missing.status_code == junk.status_code == missing_post.status_code == 404
