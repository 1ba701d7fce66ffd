"""The console's API keys (owners), webhook endpoints and delivery log over HTTP: each
action by the API's own services, secrets shown once, CSRF refused, a manager held to
their affiliates' endpoints and deliveries."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.db import Pool
from app.settings import Settings
from tests.fixtures.receiver import LOOPBACK
from tests.helpers import create
from tests.support.portal import browser, csrf_of, owner_and_manager, sign_in

HOOK = "https://hooks.example/in"
_SECRET = re.compile(r'id="made-(?:key|secret)" type="text" readonly value="([^"]+)"')


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"sender_allowed_networks": LOOPBACK})


def secret_of(page: httpx.Response) -> str:
    match = _SECRET.search(page.text)
    assert match, page.text[:800]
    return match[1]


async def test_an_owner_makes_and_revokes_api_keys(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    owner, _ = await owner_and_manager(app, client, admin, pool)
    alice = catalog["alice"]["id"]
    async with browser(app) as person:
        await sign_in(person, "owner@example.com")
        page = await person.get("/manage/keys")
        assert page.status_code == 200
        assert "the sign-in identity of owner@example.com" in page.text  # revoked when made
        token = csrf_of(page)
        assert (await person.post("/manage/keys", data={"role": "admin"})).status_code == 403
        made = await person.post(
            "/manage/keys",
            data={
                "csrf_token": token,
                "name": "Alice's feed",
                "role": "affiliate",
                "affiliate_id": alice,
            },
        )
        assert made.status_code == 201, made.text
        plain = secret_of(made)
        # The key works as Alice's, and is never shown again.
        mine = await client.get("/api/v1/stats", headers={"Authorization": f"Bearer {plain}"})
        assert mine.status_code == 200
        assert plain not in (await person.get("/manage/keys")).text
        keys = (await client.get("/api/v1/keys?limit=500", headers=admin)).json()["items"]
        key = next(k for k in keys if k["name"] == "Alice's feed")
        assert (key["role"], key["affiliate_id"], key["revoked_at"]) == ("affiliate", alice, None)
        for bad in (
            {"role": "root"},
            {"role": "affiliate"},  # an affiliate key needs its affiliate
            {"role": "admin", "affiliate_id": str(alice)},
            {"role": "affiliate", "affiliate_id": "99999"},
            {"role": "admin", "affiliate_id": "x"},
        ):
            refused = await person.post("/manage/keys", data={"csrf_token": token, **bad})
            assert refused.status_code in (400, 409), bad
        assert (
            await person.post(f"/manage/keys/{key['id']}", data={"action": "revoke"})
        ).status_code == 403
        revoked = await person.post(
            f"/manage/keys/{key['id']}", data={"csrf_token": token, "action": "revoke"}
        )
        assert revoked.status_code == 303
        assert f"Key {key['id']} revoked." in (await person.get(revoked.headers["location"])).text
        gone = await client.get("/api/v1/stats", headers={"Authorization": f"Bearer {plain}"})
        assert gone.status_code == 401
        unknown = await person.post(
            "/manage/keys/99999", data={"csrf_token": token, "action": "revoke"}
        )
        assert unknown.status_code == 404
    assert owner["key_id"] is not None
    async with browser(app) as manager:
        await sign_in(manager, "mia@example.com")
        assert (await manager.get("/manage/keys")).status_code == 404
        page = await manager.get("/manage")
        assert 'href="/manage/keys"' not in page.text
        posted = await manager.post(
            "/manage/keys", data={"csrf_token": csrf_of(page), "role": "admin"}
        )
        assert posted.status_code == 404


async def test_webhook_endpoints_by_an_owner_and_a_manager(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    alice, bob = catalog["alice"]["id"], catalog["bob"]["id"]
    await owner_and_manager(app, client, admin, pool, assigned=alice)
    program = await create(client, "webhooks", {"url": HOOK, "events": ["payout.paid"]}, admin)
    bobs = await create(
        client, "webhooks", {"url": HOOK, "events": ["payout.paid"], "affiliate_id": bob}, admin
    )
    async with browser(app) as person:
        await sign_in(person, "owner@example.com")
        page = await person.get("/manage/webhooks")
        assert page.status_code == 200
        token = csrf_of(page)
        form = {
            "csrf_token": token,
            "url": f"{HOOK}/alice",
            "events": ["conversion.created", "conversion.updated"],
            "description": "Alice's CRM",
            "affiliate_id": str(alice),
        }
        assert (
            await person.post("/manage/webhooks", data={**form, "csrf_token": ""})
        ).status_code == 403
        made = await person.post("/manage/webhooks", data=form)
        assert made.status_code == 201, made.text
        secret = secret_of(made)
        assert secret.startswith("whsec_")
        listed = (await client.get(f"/api/v1/webhooks?affiliate_id={alice}", headers=admin)).json()
        [hook] = listed["items"]
        assert (hook["url"], hook["events"], hook["description"]) == (
            f"{HOOK}/alice",
            ["conversion.created", "conversion.updated"],
            "Alice's CRM",
        )
        assert secret not in (await person.get("/manage/webhooks")).text
        wrong: list[dict[str, Any]] = [
            {"url": "ftp://x.example/"},
            {"events": []},
            {"affiliate_id": "x"},
        ]
        for bad in wrong:
            refused = await person.post("/manage/webhooks", data={**form, **bad})
            assert refused.status_code == 400, bad
        url = f"/manage/webhooks/{hook['id']}"
        rotated = await person.post(url, data={"csrf_token": token, "action": "rotate"})
        assert rotated.status_code == 200
        assert secret_of(rotated) != secret
        tested = await person.post(url, data={"csrf_token": token, "action": "test"})
        assert tested.status_code == 303
        delivery = int(tested.headers["location"].rsplit(":", 1)[1])
        sent = (await client.get(f"/api/v1/deliveries/{delivery}", headers=admin)).json()
        assert (sent["event_type"], sent["webhook_id"]) == ("webhook.test", hook["id"])
        assert "Test event sent" in (await person.get(tested.headers["location"])).text
        off = await person.post(url, data={"csrf_token": token, "action": "disable"})
        assert off.status_code == 303
        api = await client.get(f"/api/v1/webhooks/{hook['id']}", headers=admin)
        assert api.json()["status"] == "disabled"
        refused = await person.post(url, data={"csrf_token": token, "action": "test"})
        assert refused.status_code == 409  # the service's: a disabled endpoint gets no test
        on = await person.post(url, data={"csrf_token": token, "action": "enable"})
        assert on.status_code == 303
        api = await client.get(f"/api/v1/webhooks/{hook['id']}", headers=admin)
        assert api.json()["status"] == "enabled"
        everything = await person.get("/manage/webhooks")
        assert all(
            f'data-id="{w}"' in everything.text for w in (program["id"], bobs["id"], hook["id"])
        )

    async with browser(app) as manager:
        await sign_in(manager, "mia@example.com")
        page = await manager.get("/manage/webhooks")
        assert f'data-id="{hook["id"]}"' in page.text
        assert f'data-id="{program["id"]}"' not in page.text
        assert f'data-id="{bobs["id"]}"' not in page.text
        assert (await manager.get(f"/manage/webhooks?affiliate={bob}")).status_code == 404
        token = csrf_of(page)
        for other in (program["id"], bobs["id"]):
            posted = await manager.post(
                f"/manage/webhooks/{other}", data={"csrf_token": token, "action": "disable"}
            )
            assert posted.status_code == 404
        base = {"csrf_token": token, "url": HOOK, "events": "payout.paid"}
        assert (
            await manager.post("/manage/webhooks", data={**base, "affiliate_id": str(bob)})
        ).status_code == 404
        # A program endpoint is the owners': a manager's names one of their affiliates.
        assert (await manager.post("/manage/webhooks", data=base)).status_code == 400
        made = await manager.post("/manage/webhooks", data={**base, "affiliate_id": str(alice)})
        assert made.status_code == 201
    for other in (program, bobs):
        api = await client.get(f"/api/v1/webhooks/{other['id']}", headers=admin)
        assert api.json()["status"] == "enabled"


async def test_the_delivery_log_with_retry(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    alice, bob = catalog["alice"]["id"], catalog["bob"]["id"]
    await owner_and_manager(app, client, admin, pool, assigned=alice)
    sent = {}
    for name, affiliate in (("alice", alice), ("bob", bob)):
        hook = await create(
            client,
            "webhooks",
            {"url": HOOK, "events": ["payout.paid"], "affiliate_id": affiliate},
            admin,
        )
        test = await client.post(f"/api/v1/webhooks/{hook['id']}/test", headers=admin)
        sent[name] = test.json()["delivery_id"]
    # Alice's failed after its tries; Bob's was delivered.
    await pool.execute(
        "UPDATE deliveries SET status = 'failed', attempts = 5, last_error = 'HTTP 500' "
        "WHERE id = $1",
        sent["alice"],
    )
    await pool.execute(
        "UPDATE deliveries SET status = 'delivered', attempts = 1, delivered_at = now() "
        "WHERE id = $1",
        sent["bob"],
    )
    async with browser(app) as person:
        await sign_in(person, "owner@example.com")
        page = await person.get("/manage/deliveries?kind=webhook")
        assert page.status_code == 200
        assert all(f'data-id="{d}"' in page.text for d in sent.values())
        assert "HTTP 500" in page.text
        failed = await person.get("/manage/deliveries?status=failed")
        assert f'data-id="{sent["alice"]}"' in failed.text
        assert f'data-id="{sent["bob"]}"' not in failed.text
        narrowed = await person.get(f"/manage/deliveries?affiliate={bob}")
        assert f'data-id="{sent["alice"]}"' not in narrowed.text
        token = csrf_of(page)
        url = f"/manage/deliveries/{sent['alice']}"
        assert (await person.post(url, data={"action": "retry"})).status_code == 403
        retried = await person.post(
            url,
            data={
                "csrf_token": token,
                "action": "retry",
                "back": "/manage/deliveries?kind=webhook",
            },
        )
        assert retried.status_code == 303
        assert retried.headers["location"].startswith("/manage/deliveries?kind=webhook")
        assert "is due now" in (await person.get(retried.headers["location"])).text
        api = await client.get(f"/api/v1/deliveries/{sent['alice']}", headers=admin)
        assert api.json()["status"] == "pending"
        again = await person.post(
            f"/manage/deliveries/{sent['bob']}", data={"csrf_token": token, "action": "retry"}
        )
        assert again.status_code == 409  # delivered: never sent twice
    async with browser(app) as manager:
        await sign_in(manager, "mia@example.com")
        page = await manager.get("/manage/deliveries")
        assert f'data-id="{sent["alice"]}"' in page.text
        assert f'data-id="{sent["bob"]}"' not in page.text
        assert (await manager.get(f"/manage/deliveries?affiliate={bob}")).status_code == 404
        await pool.execute("UPDATE deliveries SET status = 'failed' WHERE id = $1", sent["bob"])
        posted = await manager.post(
            f"/manage/deliveries/{sent['bob']}",
            data={"csrf_token": csrf_of(page), "action": "retry"},
        )
        assert posted.status_code == 404
    api = await client.get(f"/api/v1/deliveries/{sent['bob']}", headers=admin)
    assert api.json()["status"] == "failed"


async def test_an_owner_sets_up_a_crm_integration(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    await owner_and_manager(app, client, admin, pool)
    advertiser = catalog["advertiser"]["id"]
    form = {
        "provider": "salesforce",
        "advertiser_id": str(advertiser),
        "name": "Acme CRM",
        "stages": "Closed Won = approved\nNegotiation = sale:pending\n\nClosed Lost = rejected",
        "field_txid": "Opportunity_Id",
    }
    async with browser(app) as person:
        await sign_in(person, "owner@example.com")
        page = await person.get("/manage/integrations")
        assert page.status_code == 200
        token = csrf_of(page)
        assert (await person.post("/manage/integrations", data=form)).status_code == 403
        made = await person.post("/manage/integrations", data={**form, "csrf_token": token})
        assert made.status_code == 201, made.text
        secret = secret_of(made)
        [row] = (await client.get("/api/v1/integrations", headers=admin)).json()["items"]
        assert row["inbound_url"] in made.text
        assert row["stage_map"] == {
            "Closed Won": "approved",
            "Negotiation": {"goal": "sale", "status": "pending"},
            "Closed Lost": "rejected",
        }
        assert row["field_map"]["txid"] == "Opportunity_Id"
        assert secret not in (await person.get("/manage/integrations")).text
        for bad, status in (
            ({"stages": "no equals sign"}, 400),
            ({"stages": "Won = maybe"}, 400),
            ({"provider": "hubspot"}, 400),  # HubSpot's needs its app's secret
            ({"advertiser_id": "99999"}, 409),
        ):
            refused = await person.post(
                "/manage/integrations", data={**form, **bad, "csrf_token": token}
            )
            assert refused.status_code == status, bad
        url = f"/manage/integrations/{row['id']}"
        edit = await person.get(url)
        assert "Negotiation = sale:pending" in edit.text
        assert row["inbound_url"] in edit.text
        saved = await person.post(
            url,
            data={
                "csrf_token": token,
                "name": "Acme",
                "status": "disabled",
                "stages": "Won = approved",
            },
        )
        assert saved.status_code == 303
        after = (await client.get(f"/api/v1/integrations/{row['id']}", headers=admin)).json()
        assert (after["name"], after["status"], after["stage_map"]) == (
            "Acme",
            "disabled",
            {"Won": "approved"},
        )
        assert (await person.post(url, data={"status": "enabled"})).status_code == 403
        assert (await person.get("/manage/integrations/99999")).status_code == 404
    async with browser(app) as manager:
        await sign_in(manager, "mia@example.com")
        assert (await manager.get("/manage/integrations")).status_code == 404
        assert (await manager.get(f"/manage/integrations/{row['id']}")).status_code == 404
