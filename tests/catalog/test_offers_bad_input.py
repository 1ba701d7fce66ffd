"""Offers API: what bad input gets (a 4xx with a JSON error), and that it changes nothing."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from tests.catalog.conftest import count, get_offer, offer_body
from tests.helpers import assert_error

API = "/api/v1/offers"


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
    assert await get_offer(client, admin, offer["id"]) == offer


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
    assert await get_offer(client, admin, offer["id"]) == offer


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
    assert await get_offer(client, admin, offer["id"]) == offer


@pytest.mark.parametrize("bad_id", ["0", "-3", str(2**53), "1e3"])
async def test_malformed_path_id_is_400(
    client: httpx.AsyncClient, admin: dict[str, str], bad_id: str
) -> None:
    assert_error(await client.get(f"{API}/{bad_id}", headers=admin), 400, "invalid_request")
    assert_error(await client.delete(f"{API}/{bad_id}", headers=admin), 400, "invalid_request")
