"""The managers' links screen over HTTP: the links of the staff member's affiliates, the
generator (an affiliate's link taken or made, its URL redirecting), a manager's reach,
and the form without its token."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
from fastapi import FastAPI

from app.db import Pool
from tests.helpers import create
from tests.support.portal import csrf_of, make_manager, make_user, signed_in

_MADE_URL = re.compile(r'id="made-url" type="text" readonly value="([^"]+)"')


def _listed(page: httpx.Response) -> list[int]:
    body = page.text.split('<table id="links">', 1)[1].split("</table>", 1)[0]
    return [int(i) for i in re.findall(r'<tr data-id="(\d+)">', body)]


async def test_the_owner_lists_filters_and_makes_links(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    alice, bob = catalog["alice"]["id"], catalog["bob"]["id"]
    alice_link, bob_link = catalog["alice_link"], catalog["bob_link"]
    boots = await create(
        client,
        "offers",
        {
            "advertiser_id": catalog["advertiser"]["id"],
            "name": "Boots",
            "url": "https://boots.example/in?s1={sub1}&src={source}",
        },
        admin,
    )
    await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    async with signed_in(app, "owner@example.com") as person:
        page = await person.get("/manage/links")
        assert page.status_code == 200
        assert 'href="/manage/links" aria-current="page"' in page.text
        assert _listed(page) == [alice_link["id"], bob_link["id"]]
        assert alice_link["tracking_url"] in page.text
        assert f'data-copy="url-{alice_link["id"]}"' in page.text
        by_affiliate = await person.get(f"/manage/links?affiliate={bob}")
        by_offer = await person.get(f"/manage/links?offer={boots['id']}")
        token = csrf_of(page)

        tokenless = await person.post(
            "/manage/links", data={"affiliate_id": str(bob), "offer_id": str(boots["id"])}
        )
        unchosen = await person.post("/manage/links", data={"csrf_token": token, "offer_id": ""})
        too_long = await person.post(
            "/manage/links",
            data={
                "csrf_token": token,
                "affiliate_id": str(bob),
                "offer_id": str(boots["id"]),
                "sub2": "x" * 1025,
            },
        )
        unknown = await person.post(
            "/manage/links",
            data={"csrf_token": token, "affiliate_id": "999999", "offer_id": str(boots["id"])},
        )
        made = await person.post(
            "/manage/links",
            data={
                "csrf_token": token,
                "affiliate_id": str(bob),
                "offer_id": str(boots["id"]),
                "sub1": "spring sale",
                "source": "{src}",
            },
        )
        shown = await person.get(made.headers["location"])
        # Alice's link on the catalog's offer exists: taken, not made again.
        reused = await person.post(
            "/manage/links",
            data={
                "csrf_token": token,
                "affiliate_id": str(alice),
                "offer_id": str(catalog["offer"]["id"]),
            },
        )

    assert _listed(by_affiliate) == [bob_link["id"]]
    assert _listed(by_offer) == []
    assert tokenless.status_code == 403
    assert "security token" in tokenless.text
    assert unchosen.status_code == 400
    assert "Choose an affiliate and an offer." in unchosen.text
    assert too_long.status_code == 400
    assert "at most 1,024 characters" in too_long.text
    assert unknown.status_code == 409
    assert "affiliate 999999 does not exist" in unknown.text
    link = await pool.fetchrow("SELECT id, code FROM links WHERE offer_id = $1", boots["id"])
    assert link is not None
    assert await pool.fetchval("SELECT count(*) FROM links") == 3
    assert made.status_code == 303
    assert (
        made.headers["location"]
        == f"/manage/links/{link['id']}?sub1=spring%20sale&source=%7Bsrc%7D"
    )
    assert reused.headers["location"] == f"/manage/links/{alice_link['id']}"
    assert shown.status_code == 200
    assert "Bob on Boots" in shown.text
    match = _MADE_URL.search(shown.text)
    assert match, shown.text
    url = html.unescape(match[1])
    assert url == f"http://tracker.test/c/{link['code']}?sub1=spring%20sale&source={{src}}"
    api = await client.get(f"/api/v1/links/{link['id']}", headers=admin)
    assert api.json()["affiliate_id"] == bob
    # The URL works at once: the redirect caches heard of the new code.
    click = await client.get(url.removeprefix("http://tracker.test"))
    assert click.status_code == 302
    assert click.headers["location"] == "https://boots.example/in?s1=spring%20sale&src=%7Bsrc%7D"


async def test_a_manager_sees_and_makes_links_of_their_affiliates_only(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    alice, bob = catalog["alice"]["id"], catalog["bob"]["id"]
    offer_id = catalog["offer"]["id"]
    await make_manager(app, client, admin, pool, email="mia@example.com", affiliates=[alice])
    await make_user(app, client, admin, pool, email="max@example.com", role="manager")
    async with signed_in(app, "mia@example.com") as person:
        page = await person.get("/manage/links")
        token = csrf_of(page)
        for path in (
            f"/manage/links?affiliate={bob}",
            f"/manage/links/{catalog['bob_link']['id']}",
            "/manage/links?affiliate=x",
            "/manage/links/999999",
        ):
            response = await person.get(path)
            assert response.status_code == 404, path
            assert "Bob" not in response.text
        refused = await person.post(
            "/manage/links",
            data={"csrf_token": token, "affiliate_id": str(bob), "offer_id": str(offer_id)},
        )
        own = await person.get(f"/manage/links/{catalog['alice_link']['id']}?sub1=a")
    async with signed_in(app, "max@example.com") as other:
        empty = await other.get("/manage/links")

    assert page.status_code == 200
    assert _listed(page) == [catalog["alice_link"]["id"]]
    assert "Bob" not in page.text
    assert catalog["bob_link"]["code"] not in page.text
    assert refused.status_code == 404
    assert await pool.fetchval("SELECT count(*) FROM links WHERE affiliate_id = $1", bob) == 1
    assert own.status_code == 200
    assert f"{catalog['alice_link']['tracking_url']}?sub1=a" in own.text
    assert _listed(empty) == []
    assert "No affiliates are assigned to you yet." in empty.text
