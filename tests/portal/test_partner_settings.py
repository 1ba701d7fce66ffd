"""The affiliate's settings page: its postback (saved as its own key would, then tested
against a loopback receiver), its profile and its payment details (masked), each by the
API's own service; bad input shown on the page; a form without its token refused."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.db import Pool
from app.settings import Settings
from tests.fixtures.receiver import reaching_loopback
from tests.sender.receiver import Receiver, Reply
from tests.support.portal import browser, csrf_of, make_user, sign_in

PAGE = "/partner/settings"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return reaching_loopback(settings)


async def _post(person: httpx.AsyncClient, path: str, **fields: str) -> httpx.Response:
    page = await person.get(PAGE)
    assert page.status_code == 200
    return await person.post(f"{PAGE}{path}", data={"csrf_token": csrf_of(page), **fields})


async def test_the_postback_is_saved_and_tested(
    alice: httpx.AsyncClient,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    catalog: dict[str, Any],
    receiver: Receiver,
) -> None:
    url = f"{receiver.base_url}/pb?cid={{click_id}}&amount={{payout}}"
    saved = await _post(alice, "/postback", postback_url=url, postback_method="GET")
    assert (saved.status_code, saved.headers["location"]) == (
        303,
        f"{PAGE}?saved=postback#postback",
    )
    api = (await client.get(f"/api/v1/affiliates/{catalog['alice']['id']}", headers=admin)).json()
    assert (api["postback_url"], api["postback_method"], api["postback_on"]) == (
        url,
        "GET",
        "approved",
    )
    assert "Postback saved." in (await alice.get(f"{PAGE}?saved=postback")).text

    tried = await _post(alice, "/postback/test")
    assert tried.status_code == 200
    assert "Delivered" in tried.text
    assert "HTTP 200" in tried.text
    [request] = receiver.on("/pb")
    assert request.target == "/pb?cid=test&amount=0.00"

    receiver.handler = lambda _: Reply(status=503, body=b"down for maintenance")
    failed = await _post(alice, "/postback/test")
    assert "Not delivered" in failed.text
    assert "HTTP 503" in failed.text
    assert "down for maintenance" in failed.text


async def test_a_private_address_is_refused_on_the_page(
    alice: httpx.AsyncClient, client: httpx.AsyncClient, admin: dict[str, str], catalog: Any
) -> None:
    refused = await _post(alice, "/postback", postback_url="http://10.0.0.7/pb")
    assert refused.status_code == 400
    assert 'id="postback-error"' in refused.text
    api = (await client.get(f"/api/v1/affiliates/{catalog['alice']['id']}", headers=admin)).json()
    assert api["postback_url"] is None


async def test_the_profile_and_payment_details(
    alice: httpx.AsyncClient, client: httpx.AsyncClient, admin: dict[str, str], catalog: Any
) -> None:
    saved = await _post(
        alice,
        "/profile",
        company="Alice Media",
        website="https://alice.example",
        country="FR",
        contact_channel="telegram",
        contact_handle="@alice",
    )
    assert saved.status_code == 303
    bad = await _post(alice, "/profile", website="not a url", company="Alice Media")
    assert bad.status_code == 400
    assert "website" in bad.text.split('id="profile-error"', 1)[1].split("</p>", 1)[0]

    paid = await _post(
        alice,
        "/payment",
        method="bank",
        account_holder="Alice Martin",
        iban="DE89370400440532013000",
        bic="COBADEFFXXX",
    )
    assert paid.status_code == 303
    wrong = await _post(alice, "/payment", method="bank", account_holder="A", iban="DE00", bic="X")
    assert wrong.status_code == 400
    assert 'id="payment-error"' in wrong.text

    api = (await client.get(f"/api/v1/affiliates/{catalog['alice']['id']}", headers=admin)).json()
    assert (api["company"], api["website"], api["country"]) == (
        "Alice Media",
        "https://alice.example",
        "FR",
    )
    assert api["contact"] == {"channel": "telegram", "handle": "@alice"}
    page = (await alice.get(PAGE)).text
    masked = api["payment"]
    assert masked["method"] == "bank"
    assert masked["iban"] in page
    assert "DE89370400440532013000" not in page
    assert "0532013000" not in page


async def test_forms_without_their_token_and_staff_are_refused(
    app: FastAPI,
    alice: httpx.AsyncClient,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: Any,
) -> None:
    for path in ("/postback", "/postback/test", "/profile", "/payment"):
        refused = await alice.post(f"{PAGE}{path}", data={"company": "Mallory"})
        assert refused.status_code == 403, path
    api = (await client.get(f"/api/v1/affiliates/{catalog['alice']['id']}", headers=admin)).json()
    assert api["company"] is None
    await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    async with browser(app) as owner:
        await sign_in(owner, "owner@example.com")
        assert (await owner.get(PAGE)).status_code == 404


async def test_a_nul_in_any_field_is_the_page_saying_so_not_the_apis_json(
    alice: httpx.AsyncClient, client: httpx.AsyncClient, admin: dict[str, str], catalog: Any
) -> None:
    """PostgreSQL text cannot hold NUL: a form carrying one is refused as a page (400),
    before any service sees it."""
    answer = await _post(alice, "/profile", company="Acme\x00")
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("text/html")
    assert "NUL" in answer.text
    api = await client.get(f"/api/v1/affiliates/{catalog['alice']['id']}", headers=admin)
    assert api.json()["company"] is None
