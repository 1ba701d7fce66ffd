"""The managers' customers screens over HTTP: the list with its filters and pager, one
customer's binding, totals and timeline (equal to the API's), Reassign by the API's own
service, and a manager's scope (their affiliates' customers only)."""

from __future__ import annotations

import html
import re
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.db import Pool
from app.portal import customers as portal_customers
from app.settings import Settings
from tests.customers.test_routes import _two_customers
from tests.portal.test_payouts_page import amount_of, rows_of
from tests.support.portal import browser, csrf_of, make_user, sign_in


def listed(page: httpx.Response) -> list[int]:
    """The customer IDs the list shows, in order."""
    return [int(i) for i in re.findall(r'<tr data-id="(\d+)">', page.text)]


async def _customers(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, int]:
    items = (await client.get("/api/v1/customers", headers=admin)).json()["items"]
    return {c["external_id"]: c["id"] for c in items}


async def test_the_list_filters_and_a_customer_is_the_apis_and_is_reassigned(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    shop: dict[str, Any],
    settings: Settings,
) -> None:
    await _two_customers(app, client, shop, settings)
    ids = await _customers(client, admin)
    ann, bo = ids["ann@x"], ids["bo@x"]
    await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    async with browser(app) as person:
        await sign_in(person, "owner@example.com")
        page = await person.get("/manage/customers")
        assert page.status_code == 200
        assert 'href="/manage/customers" aria-current="page"' in page.text
        assert listed(page) == sorted(ids.values())
        one = await person.get("/manage/customers", params={"external_id": "bo@x"})
        assert listed(one) == [bo]
        bobs = await person.get("/manage/customers", params={"affiliate": shop["bob"]["id"]})
        assert listed(bobs) == [bo]
        offer = await person.get("/manage/customers", params={"offer": shop["offer"]["id"]})
        assert listed(offer) == sorted(ids.values())
        later = await person.get(
            "/manage/customers", params={"first_from": "2000-01-01", "first_to": "2000-01-02"}
        )
        assert listed(later) == []
        after = await person.get("/manage/customers", params={"after": min(ids.values())})
        assert listed(after) == [max(ids.values())]
        bad = await person.get("/manage/customers", params={"first_from": "soon"})
        assert bad.status_code == 400
        assert "YYYY-MM-DD" in bad.text

        detail = await person.get(f"/manage/customers/{ann}")
        assert detail.status_code == 200
        api = (await client.get(f"/api/v1/customers/{ann}", headers=admin)).json()
        lifetime = dict(re.findall(r'data-k="([a-z]+-?[A-Z]*)">([^<]+)</dd>', detail.text))
        assert int(lifetime["conversions"]) == api["conversions"] == 2
        assert amount_of(lifetime["revenue-USD"]) == Decimal(api["revenue"]["USD"])
        assert amount_of(lifetime["payout-USD"]) == Decimal(api["payout"]["USD"])
        shown = [re.findall(r"<td>([a-z ]+)</td>", row)[0] for row in rows_of(detail, "timeline")]
        assert shown == [i["kind"].replace("_", " ") for i in api["timeline"]]
        assert "ann@x" in detail.text

        token = csrf_of(detail)
        url = f"/manage/customers/{ann}/reassign"
        move = {"affiliate_id": str(shop["bob"]["id"]), "reason": "support ticket 7"}
        assert (await person.post(url, data=move)).status_code == 403
        no_reason = await person.post(url, data={**move, "csrf_token": token, "reason": ""})
        assert no_reason.status_code == 400
        assert "a reason" in no_reason.text
        unknown = await person.post(url, data={**move, "csrf_token": token, "affiliate_id": "x"})
        assert unknown.status_code == 400
        nobody = await person.post(
            url, data={**move, "csrf_token": token, "affiliate_id": "999999"}
        )
        assert nobody.status_code == 409
        unchanged = (await client.get(f"/api/v1/customers/{ann}", headers=admin)).json()
        assert unchanged["affiliate_id"] == shop["alice"]["id"]
        moved = await person.post(url, data={**move, "csrf_token": token})
        assert moved.status_code == 303
        assert moved.headers["location"] == (
            f"/manage/customers/{ann}?done=reassigned:{shop['bob']['id']}"
        )
        now = (await client.get(f"/api/v1/customers/{ann}", headers=admin)).json()
        assert now["affiliate_id"] == shop["bob"]["id"]
        [event] = [i for i in now["timeline"] if i["kind"] == "reassigned"]
        assert event["reason"] == "support ticket 7"
        assert event["changed_by"].startswith("admin:")
        again = await person.get(moved.headers["location"])
        assert f"Customer reassigned to affiliate {shop['bob']['id']}." in again.text
        assert "support ticket 7" in again.text
        assert (await person.get("/manage/customers/99999")).status_code == 404


async def test_a_manager_sees_only_customers_bound_to_their_affiliates(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    shop: dict[str, Any],
    settings: Settings,
) -> None:
    await _two_customers(app, client, shop, settings)
    ids = await _customers(client, admin)
    ann, bo = ids["ann@x"], ids["bo@x"]
    alice, bob = shop["alice"]["id"], shop["bob"]["id"]
    mia = await make_user(app, client, admin, pool, email="mia@example.com", role="manager")
    await pool.execute("UPDATE affiliates SET manager_id = $1 WHERE id = $2", mia["key_id"], alice)
    async with browser(app) as person:
        await sign_in(person, "mia@example.com")
        page = await person.get("/manage/customers")
        assert page.status_code == 200
        assert listed(page) == [ann]
        assert (await person.get("/manage/customers", params={"affiliate": bob})).status_code == 404
        assert (await person.get(f"/manage/customers/{bo}")).status_code == 404
        mine = await person.get(f"/manage/customers/{ann}")
        assert mine.status_code == 200
        token = csrf_of(mine)
        away = await person.post(
            f"/manage/customers/{ann}/reassign",
            data={"csrf_token": token, "affiliate_id": str(bob), "reason": "mine"},
        )
        assert away.status_code == 404
        taken = await person.post(
            f"/manage/customers/{bo}/reassign",
            data={"csrf_token": token, "affiliate_id": str(alice), "reason": "mine"},
        )
        assert taken.status_code == 404
    items = (await client.get("/api/v1/customers", headers=admin)).json()["items"]
    assert {c["id"]: c["affiliate_id"] for c in items} == {ann: alice, bo: bob}


async def test_the_next_page_keeps_the_filters_as_typed(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    shop: dict[str, Any],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An ISO time's "+" (and any "&" or "#" typed) reaches the next page as it was typed."""
    monkeypatch.setattr(portal_customers, "PAGE_SIZE", 1)
    await _two_customers(app, client, shop, settings)
    ids = sorted((await _customers(client, admin)).values())
    await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    async with browser(app) as person:
        await sign_in(person, "owner@example.com")
        first = await person.get(
            "/manage/customers", params={"first_from": "2000-01-01T00:00:00+00:00"}
        )
        assert listed(first) == ids[:1]
        link = re.search(r'href="(/manage/customers\?[^"]*after=[^"]*)"', first.text)
        assert link is not None, first.text
        second = await person.get(html.unescape(link[1]))
        assert second.status_code == 200, second.text
        assert listed(second) == ids[1:]
