from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from tests.catalog.conftest import OFFER_URL, count, get_offer, offer_body
from tests.helpers import assert_error, create

API = "/api/v1/offers"


async def test_create_applies_the_documented_defaults(
    client: httpx.AsyncClient, admin: dict[str, str], advertiser: dict[str, Any]
) -> None:
    offer = await create(client, "offers", offer_body(advertiser["id"]), admin)

    assert isinstance(offer["id"], int)
    assert offer["advertiser_id"] == advertiser["id"]
    assert offer["url"] == OFFER_URL
    assert offer["fallback_url"] is None
    assert offer["status"] == "active"
    assert offer["currency"] == "USD"
    assert offer["attribution_window_hours"] == 720
    assert offer["main_goal"] == "conversion"
    assert offer["revenue"] == {"type": "fixed", "value": "0.00"}
    assert offer["payout"] == {"type": "fixed", "value": "0.00"}
    assert offer["goals"] == []
    assert offer["payout_overrides"] == []
    assert offer["caps"] == []


async def test_create_stores_rules_goals_overrides_and_caps(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    advertiser: dict[str, Any],
    affiliate: dict[str, Any],
    pool: asyncpg.Pool,
) -> None:
    body = offer_body(
        advertiser["id"],
        fallback_url="https://shop.example/sorry",
        status="paused",
        currency="EUR",
        attribution_window_hours=48,
        main_goal="sale",
        revenue={"type": "percent", "value": "12.5"},
        payout={"type": "fixed", "value": "2.50"},
        allow_payout_param=True,
        goals=[
            {
                "name": "signup",
                "revenue": {"type": "fixed", "value": "1"},
                "payout": {"type": "fixed", "value": "0.125"},
            },
            {
                "name": "deposit",
                "revenue": {"type": "percent", "value": "100"},
                "payout": {"type": "percent", "value": "0"},
                "allow_multiple": True,
            },
        ],
        payout_overrides=[{"affiliate_id": affiliate["id"], "type": "fixed", "value": "3.75"}],
        caps=[
            {"metric": "clicks", "period": "day", "limit": 1000},
            {
                "metric": "conversions",
                "period": "month",
                "limit": 5,
                "affiliate_id": affiliate["id"],
            },
        ],
    )

    offer = await create(client, "offers", body, admin)

    assert offer["fallback_url"] == "https://shop.example/sorry"
    assert offer["status"] == "paused"
    assert offer["currency"] == "EUR"
    assert offer["attribution_window_hours"] == 48
    assert offer["main_goal"] == "sale"
    assert offer["allow_payout_param"] is True
    assert offer["revenue"] == {"type": "percent", "value": "12.50"}
    assert offer["payout"] == {"type": "fixed", "value": "2.50"}
    # Goals come back ordered by name.
    assert offer["goals"] == [
        {
            "name": "deposit",
            "revenue": {"type": "percent", "value": "100.00"},
            "payout": {"type": "percent", "value": "0.00"},
            "allow_multiple": True,
        },
        {
            "name": "signup",
            "revenue": {"type": "fixed", "value": "1.00"},
            "payout": {"type": "fixed", "value": "0.125"},
            "allow_multiple": False,
        },
    ]
    assert offer["payout_overrides"] == [
        {"affiliate_id": affiliate["id"], "type": "fixed", "value": "3.75", "recurring": None}
    ]
    assert offer["caps"] == [
        {"metric": "clicks", "period": "day", "limit": 1000, "affiliate_id": None},
        {"metric": "conversions", "period": "month", "limit": 5, "affiliate_id": affiliate["id"]},
    ]
    assert await get_offer(client, admin, offer["id"]) == offer
    # Money is exact NUMERIC in the database.
    assert await pool.fetchval(
        "SELECT payout_value FROM offer_goals WHERE offer_id = $1 AND name = 'signup'",
        offer["id"],
    ) == Decimal("0.125")
    assert await pool.fetchval(
        "SELECT revenue_value FROM offers WHERE id = $1", offer["id"]
    ) == Decimal("12.5")


@pytest.mark.parametrize(
    ("sent", "shown"),
    [("2.5", "2.50"), ("10", "10.00"), ("0.0001", "0.0001"), (" 7.10 ", "7.10"), (3, "3.00")],
)
async def test_money_is_rendered_as_a_decimal_string(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    advertiser: dict[str, Any],
    sent: object,
    shown: str,
) -> None:
    body = offer_body(advertiser["id"], payout={"type": "fixed", "value": sent})

    offer = await create(client, "offers", body, admin)

    assert offer["payout"] == {"type": "fixed", "value": shown}


async def test_every_offer_macro_is_accepted(
    client: httpx.AsyncClient, admin: dict[str, str], advertiser: dict[str, Any]
) -> None:
    url = (
        "https://shop.example/p/{offer_id}?c={click_id}&a={affiliate_id}&s={sub1}{sub2}{sub3}"
        "{sub4}{sub5}&src={source}&ac={aff_click_id}#{click_id}"
    )

    offer = await create(client, "offers", offer_body(advertiser["id"], url=url), admin)

    assert offer["url"] == url


async def test_list_filters_by_advertiser_and_status(
    client: httpx.AsyncClient, admin: dict[str, str], advertiser: dict[str, Any]
) -> None:
    other = await create(client, "advertisers", {"name": "Other"}, admin)
    active = await create(client, "offers", offer_body(advertiser["id"], name="A"), admin)
    paused = await create(
        client, "offers", offer_body(advertiser["id"], name="P", status="paused"), admin
    )
    theirs = await create(client, "offers", offer_body(other["id"], name="T"), admin)

    async def ids(**params: Any) -> list[int]:
        response = await client.get(API, params=params, headers=admin)
        assert response.status_code == 200
        return [item["id"] for item in response.json()["items"]]

    assert await ids() == [active["id"], paused["id"], theirs["id"]]
    assert await ids(advertiser_id=advertiser["id"]) == [active["id"], paused["id"]]
    assert await ids(status="paused") == [paused["id"]]
    assert await ids(advertiser_id=other["id"], status="paused") == []


async def test_list_pages_carry_their_children(
    client: httpx.AsyncClient, admin: dict[str, str], advertiser: dict[str, Any]
) -> None:
    cap = {"metric": "clicks", "period": "day", "limit": 9}
    first = await create(client, "offers", offer_body(advertiser["id"], caps=[cap]), admin)
    second = await create(client, "offers", offer_body(advertiser["id"]), admin)
    third = await create(client, "offers", offer_body(advertiser["id"], caps=[cap]), admin)

    page1 = (await client.get(API, params={"limit": 2}, headers=admin)).json()
    page2 = (
        await client.get(API, params={"limit": 2, "cursor": page1["next_cursor"]}, headers=admin)
    ).json()

    assert page1["items"] == [first, second]
    assert page2 == {"items": [third], "next_cursor": None}


async def test_patch_changes_only_the_fields_given(
    client: httpx.AsyncClient, admin: dict[str, str], advertiser: dict[str, Any]
) -> None:
    body = offer_body(
        advertiser["id"],
        fallback_url="https://shop.example/",
        payout={"type": "fixed", "value": "2.50"},
        goals=[
            {
                "name": "signup",
                "revenue": {"type": "fixed", "value": "1"},
                "payout": {"type": "fixed", "value": "0.5"},
            }
        ],
        caps=[{"metric": "clicks", "period": "day", "limit": 10}],
    )
    offer = await create(client, "offers", body, admin)

    response = await client.patch(
        f"{API}/{offer['id']}",
        json={"name": "Renamed", "status": "paused", "revenue": {"type": "fixed", "value": "9"}},
        headers=admin,
    )

    assert response.status_code == 200, response.text
    patched = response.json()
    expected = {
        **offer,
        "name": "Renamed",
        "status": "paused",
        "revenue": {"type": "fixed", "value": "9.00"},
        "updated_at": patched["updated_at"],
    }
    assert patched == expected
    assert await get_offer(client, admin, offer["id"]) == patched


async def test_patch_lists_replace_the_old_ones(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    advertiser: dict[str, Any],
    affiliate: dict[str, Any],
) -> None:
    bob = await create(client, "affiliates", {"name": "Bob"}, admin)
    body = offer_body(
        advertiser["id"],
        goals=[
            {
                "name": "signup",
                "revenue": {"type": "fixed", "value": "1"},
                "payout": {"type": "fixed", "value": "0.5"},
            },
            {
                "name": "deposit",
                "revenue": {"type": "fixed", "value": "5"},
                "payout": {"type": "fixed", "value": "2"},
            },
        ],
        payout_overrides=[{"affiliate_id": affiliate["id"], "type": "fixed", "value": "1"}],
        caps=[{"metric": "clicks", "period": "day", "limit": 10}],
    )
    offer = await create(client, "offers", body, admin)
    new_goal = {
        "name": "upsell",
        "revenue": {"type": "percent", "value": "10.00"},
        "payout": {"type": "percent", "value": "5.00"},
        "allow_multiple": True,
    }
    new_override = {"affiliate_id": bob["id"], "type": "percent", "value": "50.00"}

    response = await client.patch(
        f"{API}/{offer['id']}",
        json={"goals": [new_goal], "payout_overrides": [new_override], "caps": []},
        headers=admin,
    )

    assert response.status_code == 200, response.text
    patched = await get_offer(client, admin, offer["id"])
    assert patched["goals"] == [new_goal]
    assert patched["payout_overrides"] == [{**new_override, "recurring": None}]
    assert patched["caps"] == []
    assert patched["name"] == offer["name"]


async def test_patch_fallback_url_null_clears_it(
    client: httpx.AsyncClient, admin: dict[str, str], advertiser: dict[str, Any]
) -> None:
    body = offer_body(advertiser["id"], fallback_url="https://shop.example/")
    offer = await create(client, "offers", body, admin)

    response = await client.patch(
        f"{API}/{offer['id']}", json={"fallback_url": None}, headers=admin
    )

    assert response.status_code == 200
    assert (await get_offer(client, admin, offer["id"]))["fallback_url"] is None


async def test_patch_main_goal_may_not_take_another_goals_name(
    client: httpx.AsyncClient, admin: dict[str, str], advertiser: dict[str, Any]
) -> None:
    goal = {
        "name": "signup",
        "revenue": {"type": "fixed", "value": "1"},
        "payout": {"type": "fixed", "value": "0.5"},
    }
    offer = await create(client, "offers", offer_body(advertiser["id"], goals=[goal]), admin)

    response = await client.patch(
        f"{API}/{offer['id']}", json={"main_goal": "signup"}, headers=admin
    )

    assert_error(response, 400, "invalid_request")
    assert await get_offer(client, admin, offer["id"]) == offer


async def test_patch_goals_may_not_include_the_current_main_goal(
    client: httpx.AsyncClient, admin: dict[str, str], offer: dict[str, Any]
) -> None:
    goal = {
        "name": offer["main_goal"],
        "revenue": {"type": "fixed", "value": "1"},
        "payout": {"type": "fixed", "value": "0.5"},
    }

    response = await client.patch(f"{API}/{offer['id']}", json={"goals": [goal]}, headers=admin)

    assert_error(response, 400, "invalid_request")
    assert await get_offer(client, admin, offer["id"]) == offer


async def test_delete_removes_an_offer_without_links(
    client: httpx.AsyncClient, admin: dict[str, str], advertiser: dict[str, Any], pool: asyncpg.Pool
) -> None:
    goal = {
        "name": "signup",
        "revenue": {"type": "fixed", "value": "1"},
        "payout": {"type": "fixed", "value": "0.5"},
    }
    cap = {"metric": "clicks", "period": "day", "limit": 10}
    offer = await create(
        client, "offers", offer_body(advertiser["id"], goals=[goal], caps=[cap]), admin
    )

    response = await client.delete(f"{API}/{offer['id']}", headers=admin)

    assert response.status_code == 204
    assert_error(await client.get(f"{API}/{offer['id']}", headers=admin), 404, "not_found")
    assert await count(pool) == 0
    assert await count(pool, "offer_goals") == 0
    assert await count(pool, "offer_caps") == 0


async def test_delete_archives_an_offer_with_links(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    offer: dict[str, Any],
    affiliate: dict[str, Any],
    pool: asyncpg.Pool,
) -> None:
    link = await create(
        client, "links", {"affiliate_id": affiliate["id"], "offer_id": offer["id"]}, admin
    )

    response = await client.delete(f"{API}/{offer['id']}", headers=admin)

    assert response.status_code == 204
    assert (await get_offer(client, admin, offer["id"]))["status"] == "archived"
    assert (await client.get(f"/api/v1/links/{link['id']}", headers=admin)).json() == link
    assert await count(pool, "links") == 1


async def test_an_archived_offer_takes_no_new_links(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    offer: dict[str, Any],
    affiliate: dict[str, Any],
    pool: asyncpg.Pool,
) -> None:
    link_body = {"affiliate_id": affiliate["id"], "offer_id": offer["id"]}
    await create(client, "links", link_body, admin)
    await client.delete(f"{API}/{offer['id']}", headers=admin)

    assert_error(await client.post("/api/v1/links", json=link_body, headers=admin), 409)
    assert await count(pool, "links") == 1


async def test_customer_terms_and_recurring_rules_round_trip(
    client: httpx.AsyncClient, admin: dict[str, str], catalog: dict[str, Any]
) -> None:
    offer = catalog["offer"]
    assert (offer["attribution_model"], offer["lifetime_days"]) == ("last_click", 365)
    assert (offer["recurring_payout"], offer["recurring_limit"]) == (None, None)
    override = {
        "affiliate_id": catalog["alice"]["id"],
        "type": "fixed",
        "value": "3.00",
        "recurring": {"type": "percent", "value": "10"},
    }
    body = {
        "attribution_model": "first_click",
        "lifetime_days": None,
        "recurring_payout": {"type": "fixed", "value": "1.25"},
        "recurring_limit": 3,
        "payout_overrides": [override],
    }
    response = await client.patch(f"/api/v1/offers/{offer['id']}", json=body, headers=admin)
    assert response.status_code == 200, response.text
    patched = response.json()
    assert (patched["attribution_model"], patched["lifetime_days"]) == ("first_click", None)
    assert patched["recurring_payout"] == {"type": "fixed", "value": "1.25"}
    assert patched["recurring_limit"] == 3
    assert patched["payout_overrides"][0]["recurring"] == {"type": "percent", "value": "10.00"}
    cleared = await client.patch(
        f"/api/v1/offers/{offer['id']}",
        json={"recurring_payout": None, "lifetime_days": 0},
        headers=admin,
    )
    assert (cleared.json()["recurring_payout"], cleared.json()["lifetime_days"]) == (None, 0)
    for bad in (
        {"attribution_model": "linear"},
        {"lifetime_days": -1},
        {"recurring_limit": -1},
        {"recurring_payout": {"type": "percent", "value": "101"}},
        {"attribution_model": None},
    ):
        response = await client.patch(f"/api/v1/offers/{offer['id']}", json=bad, headers=admin)
        assert response.status_code == 400, (bad, response.text)
