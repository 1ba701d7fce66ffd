"""The offer form's targeting: set when an offer is made, shown again, changed and
cleared, and the API's refusal of a country code shown beside the field."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
from fastapi import FastAPI

from app.db import Pool
from tests.portal.test_offers_page import api_offer
from tests.support.portal import form_fields, make_user, signed_in


def _errors_of(page: httpx.Response, name: str) -> str:
    key = name.replace(".", "-")
    match = re.search(rf'class="errors" id="e-{re.escape(key)}">(.*?)</p>', page.text, re.S)
    assert match, f"no error place for {name}"
    return html.unescape(re.sub(r"<[^>]+>", " ", match[1])).strip()


async def test_the_owner_targets_an_offer_by_country_and_device(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    async with signed_in(app, "owner@example.com") as person:
        page = await person.get("/manage/offers/new")
        fields = form_fields(page, "offer-form")
        assert fields["targeting.country_mode"] == "allow"
        assert fields["targeting.countries"] == ""
        assert not any(name.startswith("targeting.devices.") for name in fields)
        fields.update(
            {
                "name": "Boots",
                "advertiser_id": str(catalog["advertiser"]["id"]),
                "url": "https://boots.example/in?cid={click_id}",
                "fallback_url": "https://boots.example/",
                "targeting.country_mode": "block",
                "targeting.countries": "RU, BY  KP",
                "targeting.devices.mobile": "on",
                "targeting.devices.tablet": "on",
            }
        )
        made = await person.post("/manage/offers", data=fields)
        assert made.status_code == 303, made.text
        offer_id = int(made.headers["location"].split("/")[-1].split("?")[0])
        assert (await api_offer(client, admin, offer_id))["targeting"] == {
            "countries": ["RU", "BY", "KP"],
            "country_mode": "block",
            "devices": ["mobile", "tablet"],
        }

        shown = form_fields(await person.get(f"/manage/offers/{offer_id}"), "offer-form")
        assert shown["targeting.countries"] == "RU BY KP"
        assert shown["targeting.country_mode"] == "block"
        assert (shown.get("targeting.devices.desktop"), shown["targeting.devices.mobile"]) == (
            None,
            "on",
        )

        # A code the API refuses: the form again, the message beside the field, nothing saved.
        shown.update({"targeting.countries": "DE XX"})
        refused = await person.post(f"/manage/offers/{offer_id}", data=shown)
        assert refused.status_code == 400
        assert "'XX' is not an ISO 3166-1 alpha-2 country code" in _errors_of(
            refused, "targeting.countries"
        )
        assert 'value="DE XX"' in refused.text
        assert (await api_offer(client, admin, offer_id))["targeting"]["countries"] == [
            "RU",
            "BY",
            "KP",
        ]

        # Cleared: every field of the targeting blank, every click fits again.
        shown.update({"targeting.countries": "", "targeting.country_mode": "allow"})
        del shown["targeting.devices.mobile"], shown["targeting.devices.tablet"]
        saved = await person.post(f"/manage/offers/{offer_id}", data=shown)
        assert saved.status_code == 303, saved.text
    assert (await api_offer(client, admin, offer_id))["targeting"] == {
        "countries": [],
        "country_mode": "allow",
        "devices": [],
    }
