"""The managers' payouts screens over HTTP: balances, a run's preview and the run, the
export files (the API's own bytes), Mark paid and a payout's lines, each number checked
against the API's for the same data; a manager sees their affiliates' balances only."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.db import Pool
from app.portal import payouts as portal_payouts
from tests.payouts.test_routes import TODAY, _program
from tests.support.portal import browser, csrf_of, make_user, sign_in

MINUS = "\N{MINUS SIGN}"


def amount_of(cell: str) -> Decimal:
    """A money cell as the page writes it in en_US (`1,234.50 USD`) as a Decimal."""
    number = re.sub(r"<[^>]+>", "", cell).strip().split()[0]
    return Decimal(number.replace(",", "").replace(MINUS, "-"))


def table_of(page: httpx.Response, table: str) -> str:
    return page.text.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]


def rows_of(page: httpx.Response, table: str) -> list[str]:
    return re.findall(r"<tr[^>]*>(.*?)</tr>", table_of(page, table), re.S)[1:]


def cells(row: str) -> dict[str, Decimal]:
    """The money cells of a row by their data-k."""
    found = re.findall(r'data-k="([a-z_]+)">(.*?)</td>', row, re.S)
    return {k: amount_of(v) for k, v in found}


async def _owner_and_program(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> dict[str, Any]:
    program = await _program(pool)
    alice = program["affiliates"][0]
    stored = await client.put(
        f"/api/v1/affiliates/{alice}/payment",
        json={"method": "paypal", "email": "alice@pay.example"},
        headers=admin,
    )
    assert stored.status_code == 200, stored.text
    await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    return program


async def test_balances_equal_the_api_and_a_previewed_run_is_made_exported_and_paid(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    program = await _owner_and_program(app, client, admin, pool)
    alice, bob = program["affiliates"]
    async with browser(app) as person:
        await sign_in(person, "owner@example.com")
        page = await person.get("/manage/payouts")
        assert page.status_code == 200
        assert 'href="/manage/payouts" aria-current="page"' in page.text
        shown = rows_of(page, "balances")
        assert len(shown) == 2
        for row, affiliate_id in zip(shown, (alice, bob), strict=True):
            api = await client.get(f"/api/v1/affiliates/{affiliate_id}/balance", headers=admin)
            (usd,) = api.json()["balances"]
            assert f'href="/manage/affiliates/{affiliate_id}"' in row
            assert cells(row) == {k: Decimal(v) for k, v in usd.items() if k != "currency"}

        preview = await person.get(
            "/manage/payouts", params={"preview": "1", "currency": "USD", "up_to": TODAY}
        )
        assert preview.status_code == 200
        api = await client.post(
            "/api/v1/payout-runs/preview", json={"currency": "USD", "up_to": TODAY}, headers=admin
        )
        lines = rows_of(preview, "preview")
        assert [cells(r)["amount"] for r in lines] == [
            Decimal(line["amount"]) for line in api.json()["lines"]
        ]
        assert "paypal" in lines[0]
        assert "Make the run (1 payout)" in preview.text
        assert await pool.fetchval("SELECT count(*) FROM payout_runs") == 0

        bad = await person.get(
            "/manage/payouts", params={"preview": "1", "currency": "usd", "up_to": "soon"}
        )
        assert bad.status_code == 400
        assert "three capital letters" in bad.text

        token = csrf_of(page)
        body = {"currency": "USD", "up_to": TODAY}
        refused = await person.post("/manage/payouts/runs", data=body)
        assert refused.status_code == 403
        assert await pool.fetchval("SELECT count(*) FROM payout_runs") == 0
        made = await person.post("/manage/payouts/runs", data={**body, "csrf_token": token})
        assert made.status_code == 303
        run_id = int(made.headers["location"].split("run=")[1].split("&")[0])
        listed = await person.get(made.headers["location"])
        assert f"Payout run {run_id} made." in listed.text
        (run_row,) = rows_of(listed, "runs")
        run = (await client.get(f"/api/v1/payout-runs/{run_id}", headers=admin)).json()
        assert cells(run_row)["amount"] == Decimal(run["amount"]) == Decimal("62.50")
        (payout_row,) = rows_of(listed, "payouts")
        payouts = await client.get(f"/api/v1/payouts?run={run_id}", headers=admin)
        (payout,) = payouts.json()["items"]
        assert cells(payout_row)["amount"] == Decimal(payout["amount"])

        for fmt in ("paypal", "wise", "csv"):
            url = f"/manage/payouts/runs/{run_id}/export?format={fmt}"
            assert url.replace("&", "&amp;") in listed.text or fmt == "csv"
            mine = await person.get(url)
            theirs = await client.get(
                f"/api/v1/payout-runs/{run_id}/export", params={"format": fmt}, headers=admin
            )
            assert mine.status_code == theirs.status_code == 200
            assert mine.content == theirs.content
            for header in ("content-type", "content-disposition", "x-payouts-skipped"):
                assert mine.headers[header] == theirs.headers[header]
        assert (
            b"alice@pay.example"
            in (await person.get(f"/manage/payouts/runs/{run_id}/export?format=paypal")).content
        )
        assert (await person.get("/manage/payouts/runs/999/export")).status_code == 404
        assert (
            await person.get(f"/manage/payouts/runs/{run_id}/export?format=x")
        ).status_code == 404

        detail = await person.get(f"/manage/payouts/{payout['id']}")
        assert detail.status_code == 200
        entries = await pool.fetchval(
            "SELECT cardinality(entry_ids) FROM payouts WHERE id = $1", payout["id"]
        )
        assert len(rows_of(detail, "lines")) == entries == 4
        total = re.search(r'data-k="total"><strong>([^<]+)</strong>', detail.text)
        assert total
        assert amount_of(total[1]) == Decimal(payout["amount"])
        assert 'id="lines-shown"' not in detail.text
        # A payout with more entries than a page lists: pages of them in ID order, each
        # with the totals over every one (kept apart from the lines).
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(portal_payouts, "LINES_SIZE", 3)
            capped = await person.get(f"/manage/payouts/{payout['id']}")
            first = rows_of(detail, "lines")
            assert rows_of(capped, "lines") == first[:3]
            assert "Showing 3 of 4 entries:" in capped.text
            after = re.search(r'<td class="num">(\d+)</td>', first[2])
            assert after
            next_href = f"/manage/payouts/{payout['id']}?after={after[1]}"
            assert f'href="{next_href}"' in capped.text
            second = await person.get(next_href)
            assert rows_of(second, "lines") == first[3:]
            assert f"Showing 1 of 4 entries, those after entry {after[1]}:" in second.text
            assert "?after=" not in second.text
            # A last page as long as a page: no Next to an empty one.
            patch.setattr(portal_payouts, "LINES_SIZE", 2)
            halves = await person.get(f"/manage/payouts/{payout['id']}")
            middle = re.search(r'<td class="num">(\d+)</td>', first[1])
            assert middle
            assert f"?after={middle[1]}" in halves.text
            last = await person.get(f"/manage/payouts/{payout['id']}?after={middle[1]}")
            assert rows_of(last, "lines") == first[2:]
            assert "?after=" not in last.text
        for answer in (capped, second):
            capped_total = re.search(r'data-k="total"><strong>([^<]+)</strong>', answer.text)
            assert capped_total
            assert amount_of(capped_total[1]) == Decimal(payout["amount"])

        # The statement link is the API's own PDF, which an owner's session may read.
        pdf_url = f"/api/v1/payouts/{payout['id']}/statement.pdf"
        assert f'href="{pdf_url}"' in detail.text
        pdf = await person.get(pdf_url)
        assert pdf.status_code == 200
        assert pdf.content.startswith(b"%PDF")

        paid_url = f"/manage/payouts/{payout['id']}/paid"
        assert (await person.post(paid_url, data={"reference": "PP-1"})).status_code == 403
        empty = await person.post(paid_url, data={"csrf_token": token, "reference": " "})
        assert empty.status_code == 400
        assert "reference" in empty.text
        paid = await person.post(
            paid_url,
            data={
                "csrf_token": token,
                "reference": "PP-1",
                "back": f"/manage/payouts?run={run_id}",
            },
        )
        assert paid.status_code == 303
        assert paid.headers["location"] == f"/manage/payouts?run={run_id}&done=paid:{payout['id']}"
        now = (await client.get(f"/api/v1/payouts/{payout['id']}", headers=admin)).json()
        assert (now["status"], now["reference"]) == ("paid", "PP-1")
        assert now["settled_by"].startswith("admin:")
        again = await person.post(paid_url, data={"csrf_token": token, "reference": "PP-2"})
        assert again.status_code == 409
        assert (await person.get("/manage/payouts/99999")).status_code == 404


async def test_a_manager_sees_their_affiliates_balances_and_runs_nothing(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    program = await _owner_and_program(app, client, admin, pool)
    alice, bob = program["affiliates"]
    await pool.execute('UPDATE affiliates SET payout_threshold = \'{"USD": "1"}\'')
    run = await client.post(
        "/api/v1/payout-runs", json={"currency": "USD", "up_to": TODAY}, headers=admin
    )
    payouts = (await client.get(f"/api/v1/payouts?run={run.json()['id']}", headers=admin)).json()
    by_affiliate = {p["affiliate_id"]: p["id"] for p in payouts["items"]}
    mia = await make_user(app, client, admin, pool, email="mia@example.com", role="manager")
    await pool.execute("UPDATE affiliates SET manager_id = $1 WHERE id = $2", mia["key_id"], bob)
    async with browser(app) as person:
        await sign_in(person, "mia@example.com")
        page = await person.get("/manage/payouts")
        assert page.status_code == 200
        (row,) = rows_of(page, "balances")
        assert f'href="/manage/affiliates/{bob}"' in row
        assert f'href="/manage/affiliates/{alice}"' not in page.text
        assert 'id="runs"' not in page.text
        assert 'id="h-run"' not in page.text
        assert "marking payouts paid are the owner's" in page.text
        token = csrf_of(page)
        mine = await person.get(f"/manage/payouts/{by_affiliate[bob]}")
        assert mine.status_code == 200
        assert "Mark paid" not in mine.text
        assert (await person.get(f"/manage/payouts/{by_affiliate[alice]}")).status_code == 404
        made = await person.post(
            "/manage/payouts/runs", data={"csrf_token": token, "currency": "USD", "up_to": TODAY}
        )
        assert made.status_code == 404
        paid = await person.post(
            f"/manage/payouts/{by_affiliate[bob]}/paid",
            data={"csrf_token": token, "reference": "x"},
        )
        assert paid.status_code == 404
        export = await person.get(f"/manage/payouts/runs/{run.json()['id']}/export")
        assert export.status_code == 404
    assert await pool.fetchval("SELECT count(*) FROM payout_runs") == 1
    assert await pool.fetchval("SELECT count(*) FROM payouts WHERE status = 'paid'") == 0


async def test_an_owner_marks_a_payout_failed_with_its_reason(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    program = await _owner_and_program(app, client, admin, pool)
    alice, bob = program["affiliates"]
    await pool.execute('UPDATE affiliates SET payout_threshold = \'{"USD": "1"}\'')
    run = await client.post(
        "/api/v1/payout-runs", json={"currency": "USD", "up_to": TODAY}, headers=admin
    )
    payouts = (await client.get(f"/api/v1/payouts?run={run.json()['id']}", headers=admin)).json()
    by_affiliate = {p["affiliate_id"]: p for p in payouts["items"]}
    payout = by_affiliate[alice]
    before = (await client.get(f"/api/v1/affiliates/{alice}/balance", headers=admin)).json()
    mia = await make_user(app, client, admin, pool, email="mia@example.com", role="manager")
    await pool.execute("UPDATE affiliates SET manager_id = $1 WHERE id = $2", mia["key_id"], alice)
    failed_url = f"/manage/payouts/{payout['id']}/failed"

    async with browser(app) as manager:
        await sign_in(manager, "mia@example.com")
        token = csrf_of(await manager.get("/manage/payouts"))
        page = await manager.get(f"/manage/payouts/{payout['id']}")
        assert "Mark failed" not in page.text
        refused = await manager.post(failed_url, data={"csrf_token": token, "reason": "x"})
        assert refused.status_code == 404  # settling is the owners'

    async with browser(app) as person:
        await sign_in(person, "owner@example.com")
        page = await person.get(f"/manage/payouts/{payout['id']}")
        assert 'action="/manage/payouts/{}/failed"'.format(payout["id"]) in page.text
        token = csrf_of(page)
        no_token = await person.post(failed_url, data={"reason": "account closed"})
        assert no_token.status_code == 403
        empty = await person.post(failed_url, data={"csrf_token": token, "reason": "  "})
        assert empty.status_code == 400
        assert "Mark failed needs the reason" in empty.text
        assert (await client.get(f"/api/v1/payouts/{payout['id']}", headers=admin)).json()[
            "status"
        ] == payout["status"]

        failed = await person.post(
            failed_url, data={"csrf_token": token, "reason": "PayPal account closed"}
        )
        assert failed.status_code == 303
        assert (
            failed.headers["location"]
            == f"/manage/payouts/{payout['id']}?done=failed:{payout['id']}"
        )
        shown = await person.get(failed.headers["location"])
        assert "marked failed: its money is available again" in shown.text
        assert "PayPal account closed" in shown.text
        assert "Mark failed" not in shown.text  # settled

        now = (await client.get(f"/api/v1/payouts/{payout['id']}", headers=admin)).json()
        assert (now["status"], now["failure_reason"]) == ("failed", "PayPal account closed")
        assert now["settled_by"].startswith("admin:")
        after = (await client.get(f"/api/v1/affiliates/{alice}/balance", headers=admin)).json()
        (was,), (now_usd,) = before["balances"], after["balances"]
        amount = Decimal(payout["amount"])
        assert Decimal(was["in_payout"]) - Decimal(now_usd["in_payout"]) == amount
        assert Decimal(now_usd["available"]) - Decimal(was["available"]) == amount
        again = await person.post(failed_url, data={"csrf_token": token, "reason": "twice"})
        assert again.status_code == 409
    # Bob's payout is untouched.
    bobs = (await client.get(f"/api/v1/payouts/{by_affiliate[bob]['id']}", headers=admin)).json()
    assert bobs["status"] == by_affiliate[bob]["status"]
