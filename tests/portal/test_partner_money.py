"""The affiliate's stats, balance and announcements pages over HTTP: the numbers are the
API's for the same data (the affiliate's own session asks the API too), the CSV and the
statement are the API's bytes, and nothing of another affiliate's shows or opens."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI

from app.db import Pool
from app.mail import announcements
from app.portal.overview import REASON_METRICS
from app.portal.partner_stats import preset_span
from tests.helpers import create
from tests.support import ledger
from tests.support.portal import browser, clicked_conversion, make_user, sign_in

ZONE = "Europe/Berlin"
# In the body: what nh3 must take out, and what it keeps.
HOSTILE = (
    "Spring **bonus** for everyone.\n\n"
    "<script>alert('script')</script>\n\n"
    '<img src="x" onerror="alert(\'img\')">\n\n'
    "[a trap](javascript:alert('link')) and [the terms](https://example.com/terms)\n\n"
    "| tier | bonus |\n|---|---|\n| gold | 10 % |\n"
)
_CELL = re.compile(r'<td[^>]*data-col="([a-z0-9_]+)" data-value="([^"]*)"')
_FIELD = re.compile(r'data-field="([a-z_]+)" data-value="([^"]*)"')
_TILE = re.compile(r'<span class="value" data-metric="([a-z]+)" data-value="([^"]*)"')


@pytest.fixture
async def money(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], pool: Pool, catalog: Any
) -> dict[str, Any]:
    """Alice and Bob with clicks and conversions, ledger entries in every state a person
    sees (held, available, paid), a paid payout each, and announcements to all and to Bob."""
    alice, bob = catalog["alice"]["id"], catalog["bob"]["id"]
    sales = (("alice_link", "approved", "12.34"), ("alice_link", "pending", "5.00"))
    for link, status, amount in (*sales, ("bob_link", "approved", "99.99")):
        kw, sold = f"{link}-kw", Decimal(amount)
        await clicked_conversion(
            pool, catalog, link, status=status, sub1=kw, revenue=Decimal("987.65"), payout=sold
        )
    program = {
        "advertiser_id": catalog["advertiser"]["id"],
        "offer_id": catalog["offer"]["id"],
        "links": {alice: catalog["alice_link"]["id"], bob: catalog["bob_link"]["id"]},
    }
    # Approved now: held for the offer's 30 days.
    now = datetime.now(UTC)
    await ledger.add_conversion(
        pool, program, affiliate_id=alice, payout=Decimal("8.00"), status="approved", at=now
    )
    await pool.execute('UPDATE affiliates SET payout_threshold = \'{"USD": "1"}\'')
    for who, amount in ((alice, "25.00"), (bob, "40.00")):
        body = {"affiliate_id": who, "currency": "USD", "kind": "bonus", "amount": amount}
        await create(client, "ledger", {**body, "reason": "Welcome bonus"}, admin)
    today = now.date().isoformat()
    await create(client, "payout-runs", {"currency": "USD", "up_to": today}, admin)
    payouts = (await client.get("/api/v1/payouts", headers=admin)).json()["items"]
    by_affiliate = {p["affiliate_id"]: p["id"] for p in payouts}
    for payout_id in by_affiliate.values():
        paid = await client.post(
            f"/api/v1/payouts/{payout_id}/paid", json={"reference": "WIRE-1"}, headers=admin
        )
        assert paid.status_code == 200, paid.text
    extra = {"affiliate_id": alice, "currency": "USD", "kind": "adjustment", "amount": "7.50"}
    await create(client, "ledger", {**extra, "reason": "Late sale"}, admin)
    await pool.execute("UPDATE affiliates SET tags = '{bobs}' WHERE id = $1", bob)
    async with pool.acquire() as conn:
        to_all = await announcements.create(
            conn,
            body=announcements.AnnouncementIn(subject="Spring bonus", body=HOSTILE, audience="all"),
            author_key_id=None,
        )
        to_bob = await announcements.create(
            conn,
            body=announcements.AnnouncementIn(
                subject="For Bob only", body="Bob's *secret* deal", audience="tag:bobs"
            ),
            author_key_id=None,
        )
    for email, who in (("alice@example.com", alice), ("bob@example.com", bob)):
        await make_user(app, client, admin, pool, email=email, role="affiliate", affiliate_id=who)
    await pool.execute("UPDATE users SET time_zone = $1", ZONE)
    return {
        "alice": alice,
        "bob": bob,
        "alice_payout": by_affiliate[alice],
        "bob_payout": by_affiliate[bob],
        "to_all": to_all.id,
        "to_bob": to_bob.id,
    }


def _api_query(page: str) -> str:
    found = re.search(r'<code id="api-query">GET /api/v1/stats\?([^<]*)</code>', page)
    assert found, page[:2000]
    return found[1].replace("&amp;", "&")


async def test_stats_are_the_apis_numbers_and_the_csv_its_bytes(
    app: FastAPI, money: dict[str, Any]
) -> None:
    today = datetime.now(UTC).astimezone(ZoneInfo(ZONE)).date()
    async with browser(app) as alice:
        assert (await sign_in(alice, "alice@example.com")).status_code == 303
        page = await alice.get("/partner/stats")  # the last 7 days by day
        assert page.status_code == 200
        first, last = preset_span("7d", today)
        query = _api_query(page.text)
        assert dict(parse_qsl(query)) == {
            "from": first.isoformat(),
            "to": last.isoformat(),
            "tz": ZONE,
            "group_by": "day",
        }
        api = (await alice.get(f"/api/v1/stats?{query}")).json()
        assert api["totals"]["clicks"] >= 2
        assert api["totals"]["payout"] is not None
        cells = _CELL.findall(page.text)
        # Every column of the API's rows but the diverted reasons (the page's own table).
        assert cells == [
            (c, "" if r[c] is None else str(r[c]))
            for r in api["rows"]
            for c in r
            if c not in REASON_METRICS
        ]
        tiles = dict(_TILE.findall(page.text))
        for metric in ("clicks", "conversions", "payout", "cr", "epc"):
            assert tiles[metric] == str(api["totals"][metric] or ""), metric
        for hidden in ("Revenue", "Profit", "987.65", "bob_link-kw", "99.99"):
            assert hidden not in page.text
        # The download: the API's own CSV for the same query, byte for byte.
        csv = await alice.get("/partner/stats.csv")
        assert csv.status_code == 200
        assert csv.headers["content-type"].startswith("text/csv")
        same = await alice.get(f"/api/v1/stats?{query}&format=csv")
        assert csv.content == same.content
        assert b"revenue" not in csv.content
        assert b"profit" not in csv.content
        # By sub-ID, a filter, last month and a custom range: still the API's figures.
        # (Days left in the custom fields count for Custom only.)
        asked = {"preset": "30d", "from": "2026-01-01", "group_by": "sub1", "then_by": "offer"}
        by_sub = await alice.get("/partner/stats", params={**asked, "country": ""})
        query = _api_query(by_sub.text)
        first, last = preset_span("30d", today)
        assert dict(parse_qsl(query))["group_by"] == "sub1,offer"
        assert dict(parse_qsl(query))["from"] == first.isoformat()
        assert f'name="from" type="date" value="{first.isoformat()}"' in by_sub.text
        api = (await alice.get(f"/api/v1/stats?{query}")).json()
        # (The ledger's conversion came without a click: no sub-ID.)
        assert sorted(str(r["sub1"]) for r in api["rows"]) == ["None", "alice_link-kw"]
        assert _CELL.findall(by_sub.text) == [
            (c, "" if r[c] is None else str(r[c]))
            for r in api["rows"]
            for c in r
            if c not in REASON_METRICS
        ]
        assert 'data-value="alice_link-kw"' in by_sub.text
        assert "bob_link-kw" not in by_sub.text
        csv = await alice.get("/partner/stats.csv", params=asked)
        assert csv.content == (await alice.get(f"/api/v1/stats?{query}&format=csv")).content
        for preset in ("today", "yesterday", "mtd", "last_month"):
            shown = await alice.get("/partner/stats", params={"preset": preset})
            first, last = preset_span(preset, today)
            assert dict(parse_qsl(_api_query(shown.text)))["from"] == first.isoformat()
        custom = {"preset": "custom", "from": "2026-01-01", "to": "2026-01-31", "offer": "1,2"}
        shown = await alice.get("/partner/stats", params=custom)
        assert dict(parse_qsl(_api_query(shown.text)))["offer"] == "1,2"
        # Bad input: the page again with the API's own word, never a 500.
        for bad, said in (
            ({"preset": "custom", "from": "2026-02-01", "to": "2026-01-01"}, "before"),
            ({"preset": "custom", "from": "nope", "to": "2026-01-01"}, "choose a date"),
            ({"preset": "custom", "from": "2024-01-01", "to": "2026-01-01"}, "at most"),
            ({"country": "Germany"}, "not a valid value"),
            ({"group_by": "revenue"}, "Unknown grouping"),
            ({"preset": "forever"}, "Unknown period"),
        ):
            refused = await alice.get("/partner/stats", params=bad)
            assert refused.status_code == 400, bad
            assert said in refused.text, bad
        assert (await alice.get("/partner/stats.csv", params={"preset": "x"})).status_code == 303
    async with browser(app) as bob:
        assert (await sign_in(bob, "bob@example.com")).status_code == 303
        page = await bob.get("/partner/stats", params={"group_by": "sub1"})
        assert "bob_link-kw" in page.text
        assert "alice_link-kw" not in page.text


async def test_the_balance_is_the_ledgers_and_the_statement_the_apis_pdf(
    app: FastAPI, client: httpx.AsyncClient, money: dict[str, Any]
) -> None:
    made = money
    async with browser(app) as alice:
        assert (await sign_in(alice, "alice@example.com")).status_code == 303
        page = await alice.get("/partner/balance")
        assert page.status_code == 200
        api = (await alice.get(f"/api/v1/affiliates/{made['alice']}/balance")).json()
        [usd] = api["balances"]
        shown = dict(_FIELD.findall(page.text))
        assert set(shown) == {
            "available",
            "held",
            "pending",
            "in_payout",
            "paid",
            "owed_back",
            "payable",
            "threshold",
        }
        for field, value in shown.items():
            assert Decimal(value) == Decimal(usd[field]), field
        assert (Decimal(usd["available"]), Decimal(usd["held"]), Decimal(usd["paid"])) == (
            Decimal("7.50"),
            Decimal("20.34"),  # the two approved conversions' 12.34 and 8.00, in hold
            Decimal("25.00"),
        )
        assert "7.50 USD" in page.text
        assert "25.00 USD" in page.text
        entries = (await alice.get("/api/v1/ledger")).json()["items"]
        assert len(entries) >= 3
        for entry in entries:
            assert f'data-entry="{entry["id"]}"' in page.text
        assert "40.00" not in page.text  # Bob's bonus
        href = f"/partner/payouts/{made['alice_payout']}/statement.pdf"
        assert href in page.text
        assert f"/partner/payouts/{made['bob_payout']}/" not in page.text
        pdf = await alice.get(href)
        assert pdf.status_code == 200
        assert pdf.headers["content-type"] == "application/pdf"
        api_pdf = await alice.get(f"/api/v1/payouts/{made['alice_payout']}/statement.pdf")
        assert pdf.content == api_pdf.content
        assert pdf.content.startswith(b"%PDF")
        # Dated by the payout's settlement, not by when it was drawn: the same bytes again.
        settled = (await alice.get(f"/api/v1/payouts/{made['alice_payout']}")).json()
        stamp = datetime.fromisoformat(settled["settled_at"]).strftime("%Y%m%d%H%M%S")
        assert f"/CreationDate (D:{stamp}".encode() in pdf.content
        # Bob's statement, or no payout at all: the same 404 page, nothing of his.
        for other in (made["bob_payout"], 999_999, "x"):
            refused = await alice.get(f"/partner/payouts/{other}/statement.pdf")
            assert refused.status_code == 404
            assert "Bob" not in refused.text
            assert "%PDF" not in refused.text
    # The pager's next page starts after the entry it names.
    async with browser(app) as alice:
        assert (await sign_in(alice, "alice@example.com")).status_code == 303
        first = entries[0]["id"]
        after = await alice.get("/partner/balance", params={"after": first})
        assert f'data-entry="{first}"' not in after.text
        assert f'data-entry="{entries[1]["id"]}"' in after.text
    assert (await client.get("/partner/balance")).headers["location"] == "/"


async def test_announcements_are_those_addressed_and_render_safely(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    money: dict[str, Any],
) -> None:
    made = money
    # Staff have the managers' console: these screens are not theirs.
    await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    async with browser(app) as owner:
        assert (await sign_in(owner, "owner@example.com")).status_code == 303
        for path in ("/partner/stats", "/partner/balance", "/partner/announcements"):
            assert (await owner.get(path)).status_code == 404, path
    async with browser(app) as alice:
        assert (await sign_in(alice, "alice@example.com")).status_code == 303
        listed = await alice.get("/partner/announcements")
        api = (await alice.get("/api/v1/announcements")).json()["items"]
        assert [a["id"] for a in api] == [made["to_all"]]
        assert f'href="/partner/announcements/{made["to_all"]}"' in listed.text
        assert "For Bob only" not in listed.text
        one = await alice.get(f"/partner/announcements/{made['to_all']}")
        assert one.status_code == 200
        assert "script-src 'self'" in one.headers["content-security-policy"]
        body = one.text.split('<div class="body">', 1)[1].split("</div>", 1)[0]
        assert body == api[0]["body_html"]
        assert "<strong>bonus</strong>" in body
        assert "<table>" in body
        assert 'href="https://example.com/terms"' in body
        for unsafe in ("<script", "alert('script')", "onerror", 'href="javascript:', "<img"):
            assert unsafe not in body, unsafe
        # The refused link stays as text, escaped: it links nowhere.
        assert "[a trap](javascript:" in body
        for other in (made["to_bob"], 999_999, "0"):
            refused = await alice.get(f"/partner/announcements/{other}")
            assert refused.status_code == 404
            assert "secret" not in refused.text
    async with browser(app) as bob:
        assert (await sign_in(bob, "bob@example.com")).status_code == 303
        listed = await bob.get("/partner/announcements")
        assert "For Bob only" in listed.text
        assert "Spring bonus" in listed.text
