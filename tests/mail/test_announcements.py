"""Announcements: sanitized Markdown, audiences against a brute-force selection, who is
mailed, what their keys see, one-click unsubscribe, and bad input."""

from __future__ import annotations

import asyncio
import random
import re
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from app.mail.mailer import Mailer
from app.settings import Settings
from tests.helpers import affiliate_headers, assert_error, create
from tests.mail.conftest import ADDRESS
from tests.mail.smtp_server import SmtpServer, parts

HOSTILE = """# News <script>alert('x')</script>

Click [here](javascript:alert(1)) or [there](JaVaScRiPt:alert(2)) or [ok](https://ok.example/a).

<img src=x onerror="alert(3)"><a href="javascript:alert(4)" onclick="alert(5)">raw</a>
<iframe src="https://evil.example"></iframe><style>body{display:none}</style>
<div onmouseover="alert(6)" style="x">block</div>

![pic](data:text/html;base64,PHNjcmlwdD4=)
"""


async def _affiliate(
    client: httpx.AsyncClient, admin: dict[str, str], name: str, **fields: Any
) -> dict[str, Any]:
    body = {"name": name, "email": f"{name.lower()}@aff.example", **fields}
    return await create(client, "affiliates", body, admin)


async def _opt_in(client: httpx.AsyncClient, admin: dict[str, str], affiliate_id: int) -> None:
    response = await client.put(
        f"/api/v1/affiliates/{affiliate_id}/notifications",
        json={"announcements": True, "digest": False, "offer_changes": False},
        headers=admin,
    )
    assert response.status_code == 200, response.text


async def test_hostile_markdown_is_stripped(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/announcements",
        json={"subject": "News", "body": HOSTILE, "audience": "all"},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    html = response.json()["body_html"]
    lowered = html.lower()
    tags = ("<script", "<iframe", "<style", "<img", "<div")
    attributes = ("onerror", "onclick", "onmouseover", "style=", "src=")
    for bad in (*tags, *attributes):
        assert bad not in lowered, (bad, html)
    # A refused link stays as its text; nothing links to it.
    assert "alert('x')" not in html  # a script's content goes with it
    assert '<a href="https://ok.example/a" rel="noopener noreferrer nofollow">ok</a>' in html
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert hrefs == ["https://ok.example/a"]
    assert "<h1>" in html
    text = response.json()["body_text"]
    assert "ok (https://ok.example/a)" in text
    assert "<" not in text  # raw HTML is not in the text part,
    assert "alert('x')" not in text  # nor a script's content


async def _brute_force(pool: asyncpg.Pool, kind: str, value: int | str | None) -> set[int]:
    affiliates = await pool.fetch("SELECT id, status, group_id, tags FROM affiliates")
    links = {(r["affiliate_id"], r["offer_id"]) for r in await pool.fetch("SELECT * FROM links")}
    chosen = set()
    for a in affiliates:
        if a["status"] != "active":
            continue
        if (
            kind == "all"
            or (kind == "group" and a["group_id"] == value)
            or (kind == "tag" and value in a["tags"])
            or (kind == "offer" and (a["id"], value) in links)
        ):
            chosen.add(int(a["id"]))
    return chosen


async def test_audiences_match_a_brute_force_selection(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    rng = random.Random(15)
    advertiser = await create(client, "advertisers", {"name": "Adv"}, admin)
    offers = [
        await create(
            client,
            "offers",
            {
                "advertiser_id": advertiser["id"],
                "name": f"O{i}",
                "url": "https://shop.example/",
                "payout": {"type": "fixed", "value": "1"},
                "revenue": {"type": "fixed", "value": "2"},
            },
            admin,
        )
        for i in range(3)
    ]
    groups = [await create(client, "groups", {"name": f"G{i}", "rank": i}, admin) for i in range(2)]
    tags = ["blog", "email", "social:paid"]
    affiliates = []
    for i in range(24):
        fields: dict[str, Any] = {"tags": rng.sample(tags, rng.randint(0, 2))}
        if rng.random() < 0.6:
            fields["group_id"] = rng.choice(groups)["id"]
        if rng.random() < 0.2:
            fields["status"] = "suspended"
        affiliate = await _affiliate(client, admin, f"Aff{i}", **fields)
        affiliates.append(affiliate)
        for offer in offers:
            if rng.random() < 0.4:
                await create(
                    client,
                    "links",
                    {"affiliate_id": affiliate["id"], "offer_id": offer["id"]},
                    admin,
                )
        if rng.random() < 0.5:
            await _opt_in(client, admin, affiliate["id"])
    opted = {
        r["affiliate_id"]
        for r in await pool.fetch("SELECT affiliate_id FROM mail_preferences WHERE announcements")
    }
    audiences: list[tuple[str, str, int | str | None]] = [("all", "all", None)]
    audiences += [(f"group:{g['id']}", "group", g["id"]) for g in groups]
    audiences += [(f"tag:{t}", "tag", t) for t in tags]
    audiences += [(f"offer:{o['id']}", "offer", o["id"]) for o in offers]
    for audience, kind, value in audiences:
        response = await client.post(
            "/api/v1/announcements",
            json={"subject": f"To {audience}", "body": "Hello", "audience": audience},
            headers=admin,
        )
        assert response.status_code == 201, response.text
        made = response.json()
        expected = await _brute_force(pool, kind, value)
        addressed = {
            r["affiliate_id"]
            for r in await pool.fetch(
                "SELECT affiliate_id FROM announcement_recipients WHERE announcement_id = $1",
                made["id"],
            )
        }
        mailed = {
            r["affiliate_id"]
            for r in await pool.fetch(
                "SELECT affiliate_id FROM mail_outbox WHERE announcement_id = $1", made["id"]
            )
        }
        assert addressed == expected, audience
        assert mailed == expected & opted, audience
        assert (made["recipients"], made["mailed"]) == (len(expected), len(expected & opted))
    # Each affiliate key sees exactly the announcements addressed to it.
    for affiliate in affiliates[:6]:
        if affiliate["status"] != "active":
            continue
        headers = await affiliate_headers(client, admin, affiliate["id"])
        seen = (await client.get("/api/v1/announcements?limit=500", headers=headers)).json()
        expected_ids = {
            r["announcement_id"]
            for r in await pool.fetch(
                "SELECT announcement_id FROM announcement_recipients WHERE affiliate_id = $1",
                affiliate["id"],
            )
        }
        assert {a["id"] for a in seen["items"]} == expected_ids
        for other in (await client.get("/api/v1/announcements?limit=500", headers=admin)).json()[
            "items"
        ]:
            if other["id"] not in expected_ids:
                response = await client.get(f"/api/v1/announcements/{other['id']}", headers=headers)
                assert_error(response, 404)


async def test_unsubscribe_stops_announcements_not_transactional_mail(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    settings: Settings,
    smtp: SmtpServer,
    pool: asyncpg.Pool,
) -> None:
    eve = await _affiliate(client, admin, "Eve")
    await _opt_in(client, admin, eve["id"])
    body = {"subject": "First news", "body": "Hello **all**", "audience": "all"}
    assert (await client.post("/api/v1/announcements", json=body, headers=admin)).status_code == 201
    mailer = Mailer(pool, settings)
    await mailer.run(stop=asyncio.Event(), burst=True)
    [message] = smtp.inbox.messages
    assert message["Subject"] == "First news"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header = str(message["List-Unsubscribe"])
    assert header.startswith("<http://tracker.test/unsubscribe/")
    assert header.endswith(">")
    url = header[1:-1]
    text, html = parts(message)
    assert f"Unsubscribe: {url}" in text  # a visible link too
    assert url in html
    assert ADDRESS in text
    assert "<strong>all</strong>" in html
    path = urlsplit(url).path

    # The page: a GET changes nothing and shows a form that POSTs to the same URL.
    page = await client.get(path)
    assert page.status_code == 200
    assert '<form method="post">' in page.text
    assert "announcements" in page.text
    prefs = await client.get(f"/api/v1/affiliates/{eve['id']}/notifications", headers=admin)
    assert prefs.json()["announcements"] is True

    # RFC 8058 one-click: the body alone, no cookie, no key; no redirect in answer.
    response = await client.post(
        path,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert "Unsubscribed" in response.text
    prefs = await client.get(f"/api/v1/affiliates/{eve['id']}/notifications", headers=admin)
    assert prefs.json() == {
        "affiliate_id": eve["id"],
        "announcements": False,
        "digest": False,
        "offer_changes": False,
    }
    body = {"subject": "Second news", "body": "Again", "audience": "all"}
    made = (await client.post("/api/v1/announcements", json=body, headers=admin)).json()
    assert (made["recipients"], made["mailed"]) == (1, 0)
    # Transactional mail still goes.
    await client.post(f"/api/v1/affiliates/{eve['id']}/suspend", headers=admin)
    await client.post(f"/api/v1/affiliates/{eve['id']}/reactivate", headers=admin)
    async with pool.acquire() as conn:
        from app.mail import service as mail_service

        await mail_service.notify(
            conn, "payout_paid", eve["id"], {"amount": "5", "currency": "USD"}
        )
    await mailer.run(stop=asyncio.Event(), burst=True)
    assert smtp.subjects() == ["First news", "Payout sent: 5 USD"]


async def test_unsubscribed_after_enqueue_is_skipped(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    settings: Settings,
    smtp: SmtpServer,
    pool: asyncpg.Pool,
) -> None:
    fay = await _affiliate(client, admin, "Fay")
    await _opt_in(client, admin, fay["id"])
    body = {"subject": "News", "body": "Hi", "audience": "all"}
    assert (await client.post("/api/v1/announcements", json=body, headers=admin)).status_code == 201
    await client.put(
        f"/api/v1/affiliates/{fay['id']}/notifications",
        json={"announcements": False, "digest": False, "offer_changes": False},
        headers=await affiliate_headers(client, admin, fay["id"]),
    )
    await Mailer(pool, settings).run(stop=asyncio.Event(), burst=True)
    assert smtp.inbox.messages == []
    row = await pool.fetchrow("SELECT status, last_error FROM mail_outbox")
    assert row is not None
    assert (row["status"], row["last_error"]) == ("skipped", "unsubscribed from announcements")


@pytest.mark.parametrize(
    "token", ["nope", "A" * 34, "A" * 200, "%00", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]
)
async def test_a_bad_token_is_refused(client: httpx.AsyncClient, token: str) -> None:
    assert (await client.get(f"/unsubscribe/{token}")).status_code == 404
    assert (await client.post(f"/unsubscribe/{token}")).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"subject": "", "body": "x", "audience": "all"},
        {"subject": "a\nBcc: x@y.example", "body": "x", "audience": "all"},
        {"subject": "x" * 201, "body": "x", "audience": "all"},
        {"subject": "s", "body": "", "audience": "all"},
        {"subject": "s", "body": "x" * 50_001, "audience": "all"},
        {"subject": "s", "body": "x", "audience": "everyone"},
        {"subject": "s", "body": "x", "audience": "group:0"},
        {"subject": "s", "body": "x", "audience": "group:abc"},
        {"subject": "s", "body": "x", "audience": "offer:99999999999999999999"},
        {"subject": "s", "body": "x", "audience": "tag:"},
        {"subject": "s", "body": "x", "audience": "tag:<b>"},
        {"subject": "s", "body": "x"},
        {"subject": "s", "body": "x", "audience": "all", "extra": 1},
        {"subject": 5, "body": "x", "audience": "all"},
    ],
)
async def test_bad_input_is_a_400_and_stores_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool, body: dict[str, Any]
) -> None:
    await _affiliate(client, admin, "Gus")
    assert_error(await client.post("/api/v1/announcements", json=body, headers=admin), 400)
    assert await pool.fetchval("SELECT count(*) FROM announcements") == 0
    assert await pool.fetchval("SELECT count(*) FROM mail_outbox") == 0


async def test_unknown_group_or_offer_is_a_409(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    for audience in ("group:404", "offer:404"):
        response = await client.post(
            "/api/v1/announcements",
            json={"subject": "s", "body": "x", "audience": audience},
            headers=admin,
        )
        assert_error(response, 409, "invalid_reference")
    assert await pool.fetchval("SELECT count(*) FROM announcements") == 0


async def test_only_admins_announce(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    hal = await _affiliate(client, admin, "Hal")
    headers = await affiliate_headers(client, admin, hal["id"])
    body = {"subject": "s", "body": "x", "audience": "all"}
    assert_error(await client.post("/api/v1/announcements", json=body, headers=headers), 403)
    assert_error(await client.post("/api/v1/announcements", json=body), 401)


async def test_no_program_address_no_announcement(
    app: Any, settings: Settings, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    from asgi_lifespan import LifespanManager

    from app.main import create_app

    bare = create_app(settings.model_copy(update={"program_address": ""}))
    async with LifespanManager(bare):
        transport = httpx.ASGITransport(app=bare)
        async with httpx.AsyncClient(transport=transport, base_url="http://tracker.test") as c:
            body = {"subject": "s", "body": "x", "audience": "all"}
            response = await c.post("/api/v1/announcements", json=body, headers=admin)
    assert_error(response, 409, "program_address_missing")
    assert await pool.fetchval("SELECT count(*) FROM announcements") == 0
