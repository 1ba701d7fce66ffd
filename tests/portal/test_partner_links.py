"""The affiliates' offers and links pages over HTTP: the offers open to them with their own
payout, the link generator, and nobody else's links."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
from fastapi import FastAPI

from app.db import Pool
from tests.helpers import create
from tests.support.portal import browser, csrf_of, make_user, sign_in

_MADE_URL = re.compile(r'id="made-url" type="text" readonly value="([^"]+)"')


async def more_offers(
    client: httpx.AsyncClient, admin: dict[str, str], catalog: dict[str, Any]
) -> dict[str, Any]:
    """Boots (EUR, Alice and Bob each with an override) and a paused offer."""
    base = {
        "advertiser_id": catalog["advertiser"]["id"],
        "url": "https://boots.example/shop/{sub1}/landing?cid={click_id}",
        "fallback_url": "https://boots.example/",
        "revenue": {"type": "fixed", "value": "20.00"},
        "payout": {"type": "fixed", "value": "5.00"},
    }
    boots = await create(
        client,
        "offers",
        {
            **base,
            "name": "Boots",
            "currency": "EUR",
            "payout_overrides": [
                {"affiliate_id": catalog["alice"]["id"], "type": "fixed", "value": "3.75"},
                {"affiliate_id": catalog["bob"]["id"], "type": "fixed", "value": "9.99"},
            ],
        },
        admin,
    )
    paused = await create(client, "offers", {**base, "name": "Sandals", "status": "paused"}, admin)
    return {"boots": boots, "paused": paused}


async def test_an_affiliate_sees_the_offers_open_to_it_with_its_own_payout(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    offers = await more_offers(client, admin, catalog)
    await make_user(
        app,
        client,
        admin,
        pool,
        email="alice@example.com",
        role="affiliate",
        affiliate_id=catalog["alice"]["id"],
    )
    async with browser(app) as alice:
        assert (await alice.get("/partner/offers")).status_code == 303  # not signed in yet
        await sign_in(alice, "alice@example.com")
        page = await alice.get("/partner/offers")

    assert page.status_code == 200
    rows = dict(re.findall(r'<tr data-offer="(\d+)">(.*?)</tr>', page.text, re.S))
    assert set(rows) == {str(catalog["offer"]["id"]), str(offers["boots"]["id"])}
    assert "2.50 USD" in rows[str(catalog["offer"]["id"])]
    assert "3.75 EUR" in rows[str(offers["boots"]["id"])]  # its override, not the offer's
    assert "9.99" not in page.text  # Bob's override
    assert "Sandals" not in page.text  # paused: not open
    assert 'href="https://boots.example/shop//landing"' in page.text  # no macros, no query
    assert 'href="/partner/offers" aria-current="page"' in page.text
    # No access requests in the catalog yet: nothing to press.
    assert "Request access" not in page.text


async def test_the_generator_makes_a_link_whose_url_redirects(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    offers = await more_offers(client, admin, catalog)
    boots = offers["boots"]["id"]
    await make_user(
        app,
        client,
        admin,
        pool,
        email="alice@example.com",
        role="affiliate",
        affiliate_id=catalog["alice"]["id"],
    )
    async with browser(app) as alice:
        await sign_in(alice, "alice@example.com")
        page = await alice.get("/partner/links")
        assert page.status_code == 200
        assert catalog["alice_link"]["tracking_url"] in page.text
        assert catalog["bob_link"]["code"] not in page.text
        token = csrf_of(page)

        # Without its token: refused, no link made.
        refused = await alice.post("/partner/links", data={"offer_id": str(boots)})
        assert refused.status_code == 403
        assert "security token" in refused.text
        # Not an open offer: said so, no link made.
        paused = await alice.post(
            "/partner/links",
            data={"csrf_token": token, "offer_id": str(offers["paused"]["id"])},
        )
        assert paused.status_code == 400
        assert "offers open to you" in paused.text
        too_long = await alice.post(
            "/partner/links", data={"csrf_token": token, "offer_id": str(boots), "sub1": "x" * 1025}
        )
        assert too_long.status_code == 400
        count = "SELECT count(*) FROM links WHERE offer_id = $1"
        assert await pool.fetchval(count, boots) == 0
        assert await pool.fetchval(count, offers["paused"]["id"]) == 0

        made = await alice.post(
            "/partner/links",
            data={
                "csrf_token": token,
                "offer_id": str(boots),
                "sub1": "spring sale",
                "sub3": "{cid}",
            },
        )
        assert made.status_code == 303
        location = made.headers["location"]
        shown = await alice.get(location)
        # The same offer again: the same link, new sub-IDs in its query.
        again = await alice.post(
            "/partner/links", data={"csrf_token": token, "offer_id": str(boots), "sub2": "b"}
        )

    link = await pool.fetchrow(
        "SELECT id, code, affiliate_id FROM links WHERE offer_id = $1", boots
    )
    assert link is not None
    assert link["affiliate_id"] == catalog["alice"]["id"]
    assert location.startswith(f"/partner/links/{link['id']}?")
    assert again.headers["location"] == f"/partner/links/{link['id']}?sub2=b"
    assert await pool.fetchval(count, boots) == 1
    assert shown.status_code == 200
    match = _MADE_URL.search(shown.text)
    assert match, shown.text
    url = html.unescape(match[1])
    assert url == f"http://tracker.test/c/{link['code']}?sub1=spring%20sale&sub3={{cid}}"
    # The URL shown works at once: a click goes to the offer with its sub-IDs.
    click = await client.get(url.removeprefix("http://tracker.test"))
    assert click.status_code == 302
    assert click.headers["location"].startswith("https://boots.example/shop/spring%20sale/landing")


async def test_another_affiliates_link_is_not_found(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    await make_user(
        app,
        client,
        admin,
        pool,
        email="alice@example.com",
        role="affiliate",
        affiliate_id=catalog["alice"]["id"],
    )
    await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    async with browser(app) as alice:
        await sign_in(alice, "alice@example.com")
        mine = await alice.get(f"/partner/links/{catalog['alice_link']['id']}")
        bobs = await alice.get(f"/partner/links/{catalog['bob_link']['id']}")
        missing = await alice.get("/partner/links/999999")
        junk = await alice.get("/partner/links/not-a-number")
    assert mine.status_code == 200
    assert catalog["alice_link"]["tracking_url"] in mine.text
    for response in (bobs, missing, junk):
        assert response.status_code == 404
        assert catalog["bob_link"]["code"] not in response.text
    async with browser(app) as owner:
        await sign_in(owner, "owner@example.com")
        for path in ("/partner/offers", "/partner/links"):
            assert (await owner.get(path)).status_code == 404
