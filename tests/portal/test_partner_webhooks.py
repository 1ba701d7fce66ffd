"""The affiliate's own webhook endpoints (/partner/webhooks): made with the secret shown
once, tested, disabled and enabled, a new secret, deleted, and the deliveries retried, by
the webhooks API's own services; another affiliate's endpoint or delivery is a 404; a
form without its token changes nothing."""

from __future__ import annotations

import re
from typing import Any

import httpx

from app.db import Pool
from tests.helpers import create
from tests.support.portal import csrf_of

PAGE = "/partner/webhooks"
HOOK = "https://hooks.example/in"
API = "/api/v1/webhooks"


async def _post(person: httpx.AsyncClient, path: str, data: dict[str, Any]) -> httpx.Response:
    page = await person.get(PAGE)
    assert page.status_code == 200
    return await person.post(f"{PAGE}{path}", data={"csrf_token": csrf_of(page), **data})


def _secret(page: httpx.Response) -> str:
    match = re.search(r'id="made-secret" type="text" readonly value="(whsec_[^"]+)"', page.text)
    assert match, page.text
    return match[1]


async def test_the_affiliate_manages_its_own_endpoints(
    alice: httpx.AsyncClient,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    empty = await alice.get(PAGE)
    assert empty.status_code == 200
    assert "No endpoints yet" in empty.text
    assert 'href="/partner/webhooks" aria-current="page"' in empty.text

    made = await _post(
        alice,
        "",
        {"url": HOOK, "events": ["conversion.created", "payout.paid"], "description": "mine"},
    )
    assert made.status_code == 201, made.text
    secret = _secret(made)
    [stored] = (await client.get(API, headers=admin)).json()["items"]
    assert stored["affiliate_id"] == catalog["alice"]["id"]
    assert (stored["url"], stored["events"], stored["description"]) == (
        HOOK,
        ["conversion.created", "payout.paid"],
        "mine",
    )
    listed = await alice.get(PAGE)
    assert secret not in listed.text
    assert f'<tr data-id="{stored["id"]}">' in listed.text

    tested = await _post(alice, f"/{stored['id']}", {"action": "test"})
    assert tested.status_code == 303
    delivery = await pool.fetchrow(
        "SELECT id, event_type, affiliate_id FROM deliveries WHERE webhook_id = $1", stored["id"]
    )
    assert delivery is not None
    assert (delivery["event_type"], delivery["affiliate_id"]) == (
        "webhook.test",
        catalog["alice"]["id"],
    )
    assert tested.headers["location"] == f"{PAGE}?done=tested:{stored['id']}:{delivery['id']}"
    shown = await alice.get(f"{PAGE}?webhook={stored['id']}")
    assert f"Deliveries to endpoint {stored['id']}" in shown.text
    assert re.search(rf'<tr data-id="{delivery["id"]}">\s*<td class="num">', shown.text)
    retried = await _post(
        alice, f"/deliveries/{delivery['id']}", {"action": "retry", "back": f"{PAGE}?"}
    )
    assert retried.status_code == 303
    assert retried.headers["location"].endswith(f"done=retried:{delivery['id']}")

    for action, status in (("disable", "disabled"), ("enable", "enabled")):
        moved = await _post(alice, f"/{stored['id']}", {"action": action})
        assert moved.headers["location"] == f"{PAGE}?done={action}d:{stored['id']}"
        assert (await client.get(f"{API}/{stored['id']}", headers=admin)).json()["status"] == status

    rotated = await _post(alice, f"/{stored['id']}", {"action": "rotate"})
    assert rotated.status_code == 200
    assert "A new secret for endpoint" in rotated.text
    assert _secret(rotated) != secret

    deleted = await _post(alice, f"/{stored['id']}", {"action": "delete"})
    assert deleted.headers["location"] == f"{PAGE}?done=deleted:{stored['id']}"
    assert (await client.get(API, headers=admin)).json()["items"] == []


async def test_bad_input_is_said_on_the_page(alice: httpx.AsyncClient) -> None:
    no_events = await _post(alice, "", {"url": HOOK})
    assert no_events.status_code == 400
    assert "events" in re.search(r'id="webhook-error">([^<]*)<', no_events.text)[1]  # type: ignore[index]
    private = await _post(alice, "", {"url": "http://127.0.0.1/in", "events": ["payout.paid"]})
    assert private.status_code == 400
    assert 'id="webhook-error"' in private.text
    assert "No endpoints yet" in private.text


async def test_another_affiliates_endpoint_is_a_404_and_a_form_needs_its_token(
    alice: httpx.AsyncClient,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    bobs = await create(
        client,
        "webhooks",
        {"url": HOOK, "events": ["payout.paid"], "affiliate_id": catalog["bob"]["id"]},
        admin,
    )
    tested = await client.post(f"{API}/{bobs['id']}/test", headers=admin)
    delivery_id = tested.json()["delivery_id"]

    assert bobs["url"] not in (await alice.get(PAGE)).text
    assert (await alice.get(f"{PAGE}?webhook={bobs['id']}")).status_code == 404
    for action in ("disable", "rotate", "test", "delete"):
        refused = await _post(alice, f"/{bobs['id']}", {"action": action})
        assert refused.status_code == 404, action
    retried = await _post(alice, f"/deliveries/{delivery_id}", {"action": "retry"})
    assert retried.status_code == 404
    after = (await client.get(f"{API}/{bobs['id']}", headers=admin)).json()
    assert after["status"] == "enabled"
    assert await pool.fetchval("SELECT count(*) FROM deliveries") == 1

    no_token = await alice.post(PAGE, data={"url": HOOK, "events": ["payout.paid"]})
    assert no_token.status_code == 403
    wrong = await alice.post(f"{PAGE}/{bobs['id']}", data={"action": "disable", "csrf_token": "x"})
    assert wrong.status_code == 403
    assert (await client.get(API, headers=admin)).json()["items"] == [after]
