"""/api/v1/integrations: admin only, the secret shown once, maps checked when saved."""

from __future__ import annotations

from typing import Any

import httpx

from app import sealing
from app.db import Pool
from app.integrations import sealed
from app.settings import Settings
from tests.helpers import affiliate_headers, assert_error, create
from tests.integrations.support import HUBSPOT_SECRET, make_integration


async def test_create_shows_the_secret_once_and_fills_the_providers_fields(
    client: httpx.AsyncClient, admin: dict[str, str], shop: dict[str, Any]
) -> None:
    made = await make_integration(client, admin, shop, name="HubSpot deals")
    assert made["secret"] == HUBSPOT_SECRET
    assert made["secret_set"] is True
    assert made["inbound_url"] == f"http://tracker.test/integrations/hubspot/{made['id']}"
    assert made["field_map"] == {
        "click_id": "tracker_click_id",
        "txid": "hs_object_id",
        "stage": "dealstage",
        "amount": "amount",
        "currency": "deal_currency_code",
    }
    fetched = (await client.get(f"/api/v1/integrations/{made['id']}", headers=admin)).json()
    assert "secret" not in fetched
    assert fetched == {k: v for k, v in made.items() if k != "secret"}
    listed = (await client.get("/api/v1/integrations", headers=admin)).json()
    assert [i["id"] for i in listed["items"]] == [made["id"]]
    assert all("secret" not in i for i in listed["items"])
    other = await create(client, "advertisers", {"name": "Other"}, admin)
    mine = await client.get(
        "/api/v1/integrations", params={"advertiser_id": other["id"]}, headers=admin
    )
    assert mine.json()["items"] == []
    sales = await make_integration(client, admin, shop, provider="salesforce")
    assert sales["secret"]
    assert sales["secret"] != HUBSPOT_SECRET
    assert sales["field_map"]["click_id"] == "Tracker_Click_ID__c"


async def test_admin_only(
    client: httpx.AsyncClient, admin: dict[str, str], shop: dict[str, Any]
) -> None:
    made = await make_integration(client, admin, shop)
    affiliate = await affiliate_headers(client, admin, shop["alice"]["id"])
    assert_error(await client.get("/api/v1/integrations", headers=affiliate), 403)
    assert_error(await client.get(f"/api/v1/integrations/{made['id']}", headers=affiliate), 403)
    assert_error(await client.get("/api/v1/integrations"), 401)


async def test_bad_input_is_a_4xx_and_stores_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], shop: dict[str, Any], pool: Pool
) -> None:
    base = {
        "provider": "salesforce",
        "advertiser_id": shop["advertiser"]["id"],
        "stage_map": {"Closed Won": "approved"},
    }
    other = await create(client, "advertisers", {"name": "Other"}, admin)
    cases: list[tuple[dict[str, Any], int]] = [
        ({**base, "provider": "hubspot"}, 400),  # no client secret
        ({**base, "provider": "pipedrive"}, 400),
        ({**base, "stage_map": {}}, 400),
        ({**base, "stage_map": {"Won": "won"}}, 400),
        ({**base, "stage_map": {"Won": {"goal": "bad goal!", "status": "approved"}}}, 400),
        ({**base, "field_map": {"deal": "Id"}}, 400),
        ({**base, "field_map": {"txid": "/bad~2pointer"}}, 400),
        ({**base, "provider": "generic"}, 400),  # no pointers
        (
            {
                **base,
                "provider": "generic",
                "field_map": {"click_id": "c", "txid": "/t", "stage": "/s"},
            },
            400,
        ),
        ({**base, "secret": "short"}, 400),
        ({**base, "advertiser_id": 999999}, 409),
        ({**base, "offer_id": 999999}, 409),
        ({**base, "advertiser_id": other["id"], "offer_id": shop["offer"]["id"]}, 409),
    ]
    for body, status in cases:
        assert_error(await client.post("/api/v1/integrations", json=body, headers=admin), status)
    assert await pool.fetchval("SELECT count(*) FROM integrations") == 0


async def test_patch_and_delete(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    shop: dict[str, Any],
    pool: Pool,
    settings: Settings,
) -> None:
    made = await make_integration(
        client,
        admin,
        shop,
        provider="generic",
        field_map={"click_id": "/c", "txid": "/t", "stage": "/s"},
    )
    path = f"/api/v1/integrations/{made['id']}"
    changed = await client.patch(
        path,
        json={
            "status": "disabled",
            "stage_map": {"won": {"status": "approved"}},
            "secret": "a-new-secret-0123456789",
        },
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["status"] == "disabled"
    assert changed.json()["stage_map"] == {"won": {"goal": None, "status": "approved"}}
    assert "secret" not in changed.json()
    stored = await pool.fetchval("SELECT secret FROM integrations")
    assert "a-new-secret" not in stored  # sealed at rest, in this row
    opened = sealed.open_key(sealing.sealer_of(settings), made["id"], stored)
    assert opened == "a-new-secret-0123456789"
    # A disabled integration takes no calls.
    assert_error(await client.post(f"/integrations/generic/{made['id']}", json={}), 404)
    # A map of names suits another provider: the stored one (generic) refuses it.
    not_pointers = {"field_map": {"click_id": "c", "txid": "/t", "stage": "/s"}}
    response = await client.patch(path, json=not_pointers, headers=admin)
    assert_error(response, 409, "invalid_field_map")
    missing = await client.patch(path, json={"field_map": {"click_id": "/c"}}, headers=admin)
    assert_error(missing, 409, "invalid_field_map")
    assert_error(await client.patch(path, json={"status": None}, headers=admin), 400)
    assert (await client.delete(path, headers=admin)).status_code == 204
    assert_error(await client.get(path, headers=admin), 404)
    assert_error(await client.delete(path, headers=admin), 404)
