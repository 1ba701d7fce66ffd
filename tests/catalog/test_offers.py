from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from tests.catalog.conftest import OFFER_URL, offer_body
from tests.helpers import assert_error, create

API = "/api/v1/offers"


async def count(pool: asyncpg.Pool, table: str = "offers") -> int:
    value: int = await pool.fetchval(f"SELECT count(*) FROM {table}")
    return value


async def get(client: httpx.AsyncClient, admin: dict[str, str], offer_id: int) -> dict[str, Any]:
    response = await client.get(f"{API}/{offer_id}", headers=admin)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


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
    assert await get(client, admin, offer["id"]) == offer
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
    assert await get(client, admin, offer["id"]) == patched


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
    patched = await get(client, admin, offer["id"])
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
    assert (await get(client, admin, offer["id"]))["fallback_url"] is None


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
    assert await get(client, admin, offer["id"]) == offer


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
    assert await get(client, admin, offer["id"]) == offer


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
    assert (await get(client, admin, offer["id"]))["status"] == "archived"
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


def goal(**fields: Any) -> dict[str, Any]:
    return {
        "name": "signup",
        "revenue": {"type": "fixed", "value": "1"},
        "payout": {"type": "fixed", "value": "0.5"},
        **fields,
    }


BAD_OFFER_FIELDS = [
    pytest.param({"url": "javascript:alert(1)"}, id="javascript-url"),
    pytest.param({"url": "JavaScript://shop.example/%0aalert(1)"}, id="javascript-slashes"),
    pytest.param({"url": "data:text/html,<script>alert(1)</script>"}, id="data-url"),
    pytest.param({"url": "ftp://shop.example/file"}, id="ftp-url"),
    pytest.param({"url": "/landing?cid={click_id}"}, id="relative-url"),
    pytest.param({"url": "//shop.example/landing"}, id="scheme-relative-url"),
    pytest.param({"url": "https://"}, id="no-host"),
    pytest.param({"url": "https://shop.example/a b"}, id="space-in-url"),
    pytest.param({"url": "https://shop.example/?x=\nLocation: y"}, id="newline-in-url"),
    pytest.param({"url": "https://shop.example/\x00"}, id="nul-in-url"),
    pytest.param({"url": "https://shop.example/?x={foo}"}, id="unknown-macro"),
    pytest.param({"url": "https://shop.example/?x={}"}, id="empty-macro"),
    pytest.param({"url": "https://shop.example/?x={payout}"}, id="postback-only-macro"),
    pytest.param({"url": "https://{sub1}.shop.example/"}, id="macro-in-host"),
    pytest.param({"url": "https://{sub1}/"}, id="macro-as-host"),
    pytest.param({"url": "https://shop.example:{sub1}/"}, id="macro-in-port"),
    pytest.param({"url": "https://{sub1}@shop.example/"}, id="macro-in-userinfo"),
    pytest.param({"url": "https://shop.example/" + "x" * 2100}, id="url-too-long"),
    pytest.param({"url": 42}, id="url-number"),
    pytest.param({"fallback_url": "javascript:alert(1)"}, id="javascript-fallback"),
    pytest.param({"fallback_url": "https://shop.example/{foo}"}, id="fallback-unknown-macro"),
    pytest.param({"payout": {"type": "fixed", "value": "-1"}}, id="negative-payout"),
    pytest.param({"payout": {"type": "fixed", "value": "-0.01"}}, id="negative-cent"),
    pytest.param({"revenue": {"type": "fixed", "value": "2.12345"}}, id="five-decimals"),
    pytest.param({"revenue": {"type": "fixed", "value": 0.00001}}, id="five-decimals-number"),
    pytest.param({"payout": {"type": "percent", "value": "100.01"}}, id="percent-over-100"),
    pytest.param({"payout": {"type": "percent", "value": "250"}}, id="percent-250"),
    pytest.param({"payout": {"type": "fixed", "value": "abc"}}, id="money-text"),
    pytest.param({"payout": {"type": "fixed", "value": "NaN"}}, id="money-nan"),
    pytest.param({"payout": {"type": "fixed", "value": "Infinity"}}, id="money-infinity"),
    pytest.param({"payout": {"type": "fixed", "value": "1e20"}}, id="money-too-large"),
    pytest.param({"payout": {"type": "fixed", "value": True}}, id="money-bool"),
    pytest.param({"payout": {"type": "fixed", "value": None}}, id="money-null"),
    pytest.param({"payout": {"type": "fixed"}}, id="rule-without-value"),
    pytest.param({"payout": {"type": "cpa", "value": "1"}}, id="rule-type-unknown"),
    pytest.param({"payout": "2.50"}, id="rule-not-object"),
    pytest.param({"payout": {"type": "fixed", "value": "1", "max": "2"}}, id="rule-extra-field"),
    pytest.param({"caps": [{"metric": "clicks", "period": "day", "limit": 0}]}, id="cap-limit-0"),
    pytest.param(
        {"caps": [{"metric": "clicks", "period": "day", "limit": -1}]}, id="cap-limit-neg"
    ),
    pytest.param(
        {"caps": [{"metric": "clicks", "period": "day", "limit": 1.5}]}, id="cap-limit-frac"
    ),
    pytest.param(
        {"caps": [{"metric": "clicks", "period": "day", "limit": "x"}]}, id="cap-limit-text"
    ),
    pytest.param(
        {"caps": [{"metric": "clicks", "period": "day", "limit": True}]}, id="cap-limit-bool"
    ),
    pytest.param(
        {"caps": [{"metric": "clicks", "period": "day", "limit": "5"}]}, id="cap-limit-str"
    ),
    pytest.param({"caps": [{"metric": "views", "period": "day", "limit": 5}]}, id="cap-metric"),
    pytest.param({"caps": [{"metric": "clicks", "period": "week", "limit": 5}]}, id="cap-period"),
    pytest.param(
        {"caps": [{"metric": "clicks", "period": "day", "limit": 5}] * 2}, id="duplicate-caps"
    ),
    pytest.param({"caps": {"metric": "clicks"}}, id="caps-not-list"),
    pytest.param({"goals": [goal(), goal()]}, id="duplicate-goals"),
    pytest.param({"goals": [goal(name="conversion")]}, id="goal-named-main-goal"),
    pytest.param({"goals": [goal(name="has space")]}, id="goal-name-space"),
    pytest.param({"goals": [goal(name="")]}, id="goal-name-empty"),
    pytest.param(
        {"goals": [goal(payout={"type": "percent", "value": "101"})]}, id="goal-percent-over-100"
    ),
    pytest.param({"goals": [goal(revenue=None)]}, id="goal-rule-null"),
    pytest.param(
        {"payout_overrides": [{"affiliate_id": 1, "type": "fixed", "value": "-2"}]},
        id="override-negative",
    ),
    pytest.param(
        {"payout_overrides": [{"affiliate_id": 1, "type": "percent", "value": "101"}]},
        id="override-percent-over-100",
    ),
    pytest.param(
        {"payout_overrides": [{"affiliate_id": 0, "type": "fixed", "value": "1"}]},
        id="override-affiliate-0",
    ),
    pytest.param({"currency": "usd"}, id="currency-lowercase"),
    pytest.param({"currency": "DOLLARS"}, id="currency-long"),
    pytest.param({"attribution_window_hours": 0}, id="window-0"),
    pytest.param({"attribution_window_hours": "a week"}, id="window-text"),
    pytest.param({"attribution_window_hours": 10**9}, id="window-huge"),
    pytest.param({"status": "archived"}, id="status-archived"),
    pytest.param({"status": "ACTIVE"}, id="status-case"),
    pytest.param({"name": ""}, id="name-empty"),
    pytest.param({"name": ["Shoes"]}, id="name-list"),
    pytest.param({"advertiser_id": "one"}, id="advertiser-text"),
    pytest.param({"advertiser_id": 0}, id="advertiser-0"),
    pytest.param({"advertiser_id": None}, id="advertiser-null"),
    pytest.param({"allow_payout_param": "maybe"}, id="flag-text"),
    pytest.param({"allow_payout_param": "true"}, id="flag-string"),
    pytest.param({"main_goal_multiple": 1}, id="flag-number"),
    pytest.param({"attribution_window_hours": True}, id="window-bool"),
    pytest.param({"advertiser_id": "1"}, id="advertiser-string"),
    pytest.param({"id": 5}, id="id-field"),
    pytest.param({"payot": {"type": "fixed", "value": "1"}}, id="unknown-field"),
]


@pytest.mark.parametrize("fields", BAD_OFFER_FIELDS)
async def test_create_rejects_bad_input(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    advertiser: dict[str, Any],
    pool: asyncpg.Pool,
    fields: dict[str, Any],
) -> None:
    response = await client.post(API, json=offer_body(advertiser["id"], **fields), headers=admin)

    assert_error(response, 400, "invalid_request")
    assert await count(pool) == 0


async def test_create_rejects_malformed_json(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    response = await client.post(
        API, content=b'{"name": "x",}', headers={**admin, "Content-Type": "application/json"}
    )

    assert_error(response, 400, "invalid_json")
    assert await count(pool) == 0


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"advertiser_id": 999}, id="advertiser"),
        pytest.param(
            {"payout_overrides": [{"affiliate_id": 999, "type": "fixed", "value": "1"}]},
            id="override-affiliate",
        ),
        pytest.param(
            {"caps": [{"metric": "clicks", "period": "day", "limit": 5, "affiliate_id": 999}]},
            id="cap-affiliate",
        ),
    ],
)
async def test_create_rejects_unknown_references(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    advertiser: dict[str, Any],
    pool: asyncpg.Pool,
    fields: dict[str, Any],
) -> None:
    response = await client.post(API, json=offer_body(advertiser["id"], **fields), headers=admin)

    assert_error(response, 409, "invalid_reference")
    assert await count(pool) == 0


BAD_OFFER_PATCHES = [
    pytest.param({"url": "javascript:alert(1)"}, id="javascript-url"),
    pytest.param({"url": "landing.html"}, id="relative-url"),
    pytest.param({"url": "https://shop.example/{foo}"}, id="unknown-macro"),
    pytest.param({"url": "https://{sub1}.evil.example/"}, id="macro-in-host"),
    pytest.param({"url": None}, id="url-null"),
    pytest.param({"name": None}, id="name-null"),
    pytest.param({"status": None}, id="status-null"),
    pytest.param({"goals": None}, id="goals-null"),
    pytest.param({"status": "archived"}, id="status-archived"),
    pytest.param({"payout": {"type": "fixed", "value": "-1"}}, id="negative-payout"),
    pytest.param({"payout": {"type": "percent", "value": "101"}}, id="percent-over-100"),
    pytest.param({"revenue": {"type": "fixed", "value": "0.00001"}}, id="five-decimals"),
    pytest.param({"caps": [{"metric": "clicks", "period": "day", "limit": 0}]}, id="cap-limit-0"),
    pytest.param(
        {"caps": [{"metric": "clicks", "period": "day", "limit": -1}]}, id="cap-limit-neg"
    ),
    pytest.param({"advertiser_id": 1}, id="advertiser-not-writable"),
    pytest.param({"colour": "red"}, id="unknown-field"),
]


@pytest.mark.parametrize("fields", BAD_OFFER_PATCHES)
async def test_patch_rejects_bad_input_and_changes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], offer: dict[str, Any], fields: dict[str, Any]
) -> None:
    response = await client.patch(f"{API}/{offer['id']}", json=fields, headers=admin)

    assert_error(response, 400, "invalid_request")
    assert await get(client, admin, offer["id"]) == offer


async def test_patch_with_an_unknown_affiliate_changes_nothing(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    offer: dict[str, Any],
    affiliate: dict[str, Any],
) -> None:
    overrides = [
        {"affiliate_id": affiliate["id"], "type": "fixed", "value": "1"},
        {"affiliate_id": 999, "type": "fixed", "value": "1"},
    ]

    response = await client.patch(
        f"{API}/{offer['id']}",
        json={"name": "Changed", "payout_overrides": overrides},
        headers=admin,
    )

    assert_error(response, 409, "invalid_reference")
    assert await get(client, admin, offer["id"]) == offer


@pytest.mark.parametrize(
    ("method", "body"),
    [("GET", None), ("PATCH", {"name": "X"}), ("PATCH", {}), ("DELETE", None)],
)
async def test_unknown_id_is_404(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    offer: dict[str, Any],
    method: str,
    body: dict[str, Any] | None,
) -> None:
    response = await client.request(method, f"{API}/{offer['id'] + 1}", json=body, headers=admin)

    assert_error(response, 404, "not_found")
    assert await get(client, admin, offer["id"]) == offer


@pytest.mark.parametrize("bad_id", ["0", "-3", str(2**53), "1e3"])
async def test_malformed_path_id_is_400(
    client: httpx.AsyncClient, admin: dict[str, str], bad_id: str
) -> None:
    assert_error(await client.get(f"{API}/{bad_id}", headers=admin), 400, "invalid_request")
    assert_error(await client.delete(f"{API}/{bad_id}", headers=admin), 400, "invalid_request")


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
