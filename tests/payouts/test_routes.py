"""/api/v1/payout-runs and /api/v1/payouts over HTTP: runs, exports, statements, requests,
and who may see what."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.attribution import queries as attribution_queries
from app.db import Pool
from app.payouts import exports, statement
from tests.helpers import affiliate_headers, assert_error, create
from tests.support.ledger import add_conversion, change_status, double_claims, make_program

LONG_AGO = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
TODAY = dt.datetime.now(dt.UTC).date().isoformat()


async def _program(pool: Pool) -> dict[str, Any]:
    """Alice is owed 62.50 (three conversions long approved, one refunded before any
    payout, a bonus); Bob 20.00 (under the threshold)."""
    program = await make_program(pool, affiliates=2)
    alice, bob = program["affiliates"]
    await pool.execute("UPDATE affiliates SET name = 'Alice Müller' WHERE id = $1", alice)
    for amount in ("20.00", "20.00", "15.00"):
        await add_conversion(
            pool,
            program,
            affiliate_id=alice,
            payout=Decimal(amount),
            status="approved",
            at=LONG_AGO,
        )
    refunded = await add_conversion(
        pool, program, affiliate_id=alice, payout=Decimal(9), status="approved", at=LONG_AGO
    )
    await change_status(pool, refunded, "rejected", at=LONG_AGO)
    await add_conversion(
        pool, program, affiliate_id=bob, payout=Decimal(20), status="approved", at=LONG_AGO
    )
    await pool.execute(
        """INSERT INTO ledger_entries (affiliate_id, currency, kind, amount, reason, created_by)
           VALUES ($1, 'USD', 'bonus', 7.50, 'Black Friday', 'admin')""",
        alice,
    )
    return program


async def _run(client: httpx.AsyncClient, admin: dict[str, str], **body: Any) -> dict[str, Any]:
    return await create(client, "payout-runs", {"currency": "USD", "up_to": TODAY, **body}, admin)


async def test_a_run_pays_who_reaches_the_threshold(
    client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    program = await _program(pool)
    alice = program["affiliates"][0]
    run = await _run(client, admin)
    assert (run["payouts"], run["amount"]) == (1, "62.50")
    assert run["by_status"] == [{"status": "pending", "payouts": 1, "amount": "62.50"}]
    again = await client.get(f"/api/v1/payout-runs/{run['id']}", headers=admin)
    assert again.json() == run
    payouts = (await client.get(f"/api/v1/payouts?run={run['id']}", headers=admin)).json()
    (payout,) = payouts["items"]
    assert (payout["affiliate_id"], payout["amount"], payout["status"]) == (
        alice,
        "62.50",
        "pending",
    )
    paid = await client.post(
        f"/api/v1/payouts/{payout['id']}/paid", json={"reference": "PP-77"}, headers=admin
    )
    assert paid.json()["status"] == "paid"
    assert paid.json()["reference"] == "PP-77"
    mails = await pool.fetch("SELECT kind, affiliate_id, data FROM mail_outbox")
    assert [(m["kind"], m["affiliate_id"], m["data"]) for m in mails] == [
        ("payout_paid", alice, {"amount": "62.50", "currency": "USD", "reference": "PP-77"})
    ]
    balance = (await client.get(f"/api/v1/affiliates/{alice}/balance", headers=admin)).json()
    assert balance["balances"][0]["paid"] == "62.50"
    assert balance["balances"][0]["available"] == "0.00"
    assert_error(
        await client.post(
            f"/api/v1/payouts/{payout['id']}/failed", json={"reason": "x"}, headers=admin
        ),
        409,
        "payout_settled",
    )


@pytest.mark.parametrize(
    "body",
    [
        {"currency": "XYZ", "up_to": TODAY},
        {"currency": "usd", "up_to": TODAY},
        {"currency": "USD", "up_to": "yesterday"},
        {"currency": "USD", "up_to": 0},
        {"currency": "USD", "up_to": "2026-02-30"},
        {"currency": "USD"},
        {"currency": "USD", "up_to": TODAY, "affiliate_ids": []},
        {"currency": "USD", "up_to": TODAY, "affiliate_ids": [0]},
    ],
)
async def test_bad_runs_are_refused_and_change_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], pool: Pool, body: dict[str, Any]
) -> None:
    await _program(pool)
    assert_error(await client.post("/api/v1/payout-runs", json=body, headers=admin), 400)
    assert await pool.fetchval("SELECT count(*) FROM payout_runs") == 0


async def test_a_run_for_an_unknown_affiliate_is_409(
    client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    program = await _program(pool)
    body = {"currency": "USD", "up_to": TODAY, "affiliate_ids": [program["affiliates"][0], 999]}
    response = await client.post("/api/v1/payout-runs", json=body, headers=admin)
    assert_error(response, 409, "invalid_reference")
    assert await pool.fetchval("SELECT count(*) FROM payouts") == 0


async def test_affiliate_keys_see_their_own_payouts_only(
    client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    program = await _program(pool)
    alice, bob = program["affiliates"]
    await pool.execute(
        'UPDATE affiliates SET payout_threshold = \'{"USD": "10"}\' WHERE id = $1', bob
    )
    await _run(client, admin)
    alice_key = await affiliate_headers(client, admin, alice)
    bob_key = await affiliate_headers(client, admin, bob)
    mine = (await client.get("/api/v1/payouts", headers=alice_key)).json()["items"]
    assert [p["affiliate_id"] for p in mine] == [alice]
    bobs = (await client.get("/api/v1/payouts", headers=bob_key)).json()["items"]
    assert [p["affiliate_id"] for p in bobs] == [bob]
    for path in ("", "/statement.pdf"):
        assert_error(
            await client.get(f"/api/v1/payouts/{bobs[0]['id']}{path}", headers=alice_key), 404
        )
        assert (
            await client.get(f"/api/v1/payouts/{mine[0]['id']}{path}", headers=alice_key)
        ).status_code == 200
    assert_error(await client.get(f"/api/v1/payouts?affiliate={bob}", headers=alice_key), 403)
    for method, path, body in (
        ("POST", "/api/v1/payout-runs", {"currency": "USD", "up_to": TODAY}),
        ("GET", "/api/v1/payout-runs/1", None),
        ("GET", "/api/v1/payout-runs/1/export", None),
        ("POST", f"/api/v1/payouts/{mine[0]['id']}/paid", {"reference": "x"}),
        ("POST", f"/api/v1/payouts/{mine[0]['id']}/failed", {"reason": "x"}),
    ):
        response = await client.request(method, path, json=body, headers=alice_key)
        assert_error(response, 403)
    assert (await client.get(f"/api/v1/payouts/{mine[0]['id']}", headers=admin)).json()[
        "status"
    ] == "pending"


async def test_an_affiliate_requests_its_available_balance(
    client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    program = await _program(pool)
    alice, bob = program["affiliates"]
    bob_key = await affiliate_headers(client, admin, bob)
    response = await client.post(
        "/api/v1/payouts/request", json={"currency": "USD"}, headers=bob_key
    )
    assert_error(response, 409, "below_threshold")
    alice_key = await affiliate_headers(client, admin, alice)
    made = await client.post("/api/v1/payouts/request", json={"currency": "USD"}, headers=alice_key)
    assert made.status_code == 201, made.text
    assert (made.json()["status"], made.json()["amount"], made.json()["run_id"]) == (
        "requested",
        "62.50",
        None,
    )
    # Requested money is taken: neither a second request nor a run takes it again.
    again = await client.post(
        "/api/v1/payouts/request", json={"currency": "USD"}, headers=alice_key
    )
    assert_error(again, 409, "below_threshold")
    assert (await _run(client, admin))["payouts"] == 0
    assert_error(
        await client.post("/api/v1/payouts/request", json={"currency": "USD"}, headers=admin), 403
    )
    assert_error(
        await client.post("/api/v1/payouts/request", json={"currency": "ABC"}, headers=alice_key),
        400,
    )


async def test_exports_in_each_format(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
) -> None:
    program = await _program(pool)
    alice, bob = program["affiliates"]
    await pool.execute('UPDATE affiliates SET payout_threshold = \'{"USD": "1"}\'')

    # Stored through the profile (encrypted at rest), read back decrypted by the export.
    for affiliate_id, details in (
        (alice, {"method": "paypal", "email": "alice@pay.example"}),
        (
            bob,
            {
                "method": "wise",
                "email": "=bob@wise.example",
                "account_holder": "Bob B",
                "iban": "DE89370400440532013000",
            },
        ),
    ):
        stored = await client.put(
            f"/api/v1/affiliates/{affiliate_id}/payment", json=details, headers=admin
        )
        assert stored.status_code == 200, stored.text
    run = await _run(client, admin)
    ids = {
        p["affiliate_id"]: p["id"]
        for p in (await client.get(f"/api/v1/payouts?run={run['id']}", headers=admin)).json()[
            "items"
        ]
    }
    url = f"/api/v1/payout-runs/{run['id']}/export"
    paypal = await client.get(url, params={"format": "paypal"}, headers=admin)
    assert paypal.status_code == 200
    assert paypal.headers["content-type"].startswith("text/csv")
    assert paypal.headers["x-payouts-skipped"] == str(ids[bob])
    assert list(csv.reader(io.StringIO(paypal.text))) == [
        [
            "alice@pay.example",
            "62.50",
            "USD",
            f"PAYOUT-{ids[alice]}",
            f"Affiliate program payout {TODAY}",
            "PAYPAL",
        ],
    ]
    wise = await client.get(url, params={"format": "wise"}, headers=admin)
    rows = list(csv.reader(io.StringIO(wise.text)))
    assert rows[0][:3] == ["name", "recipientEmail", "paymentReference"]
    assert rows[1:] == [
        [
            "Bob B",
            "'=bob@wise.example",
            f"PAYOUT-{ids[bob]}",
            "PERSON",
            "target",
            "20.00",
            "USD",
            "USD",
            "DE89370400440532013000",
        ],
    ]
    plain = await client.get(url, headers=admin)
    table = list(csv.DictReader(io.StringIO(plain.text)))
    assert [(r["affiliate_id"], r["amount"], r["method"]) for r in table] == [
        (str(alice), "62.50", "paypal"),
        (str(bob), "20.00", "wise"),
    ]
    assert_error(await client.get(url, params={"format": "xml"}, headers=admin), 400)
    assert_error(await client.get(url, params={"part": 2}, headers=admin), 404)
    assert_error(await client.get("/api/v1/payout-runs/999/export", headers=admin), 404)


def _pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "statement.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["/usr/bin/pdftotext", "-layout", str(path), "-"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout


# The core font; a TrueType one; a character DejaVu Sans has no glyph for.
@pytest.mark.parametrize("name", ["Alice Müller", "Алиса Ωμέγα", "Алиса 李"])
async def test_the_statement_shows_every_entry_and_the_totals(
    client: httpx.AsyncClient, admin: dict[str, str], pool: Pool, tmp_path: Path, name: str
) -> None:
    program = await _program(pool)
    alice = program["affiliates"][0]
    await pool.execute(
        "UPDATE affiliates SET name = $2, company = 'Müller Media GmbH', country = 'DE'"
        " WHERE id = $1",
        alice,
        name,
    )
    run = await _run(client, admin)
    (payout,) = (await client.get(f"/api/v1/payouts?run={run['id']}", headers=admin)).json()[
        "items"
    ]
    response = await client.get(f"/api/v1/payouts/{payout['id']}/statement.pdf", headers=admin)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    text = _pdf_text(response.content, tmp_path)
    assert "Self-billing statement" in text
    assert "Affiliate program" in text
    assert f"{name.replace('李', '?')} (affiliate #{alice})" in text
    assert "Müller Media GmbH" in text
    assert "\nDE\n" in text
    assert f"Payout #{payout['id']}" in text
    assert f"Period: {TODAY} to {TODAY}" in text
    conversions = [
        r["id"]
        for r in await pool.fetch(
            "SELECT id FROM conversions WHERE affiliate_id = $1 AND status = 'approved'"
            " ORDER BY id",
            alice,
        )
    ]
    for conversion in conversions:
        assert f"conversion #{conversion} of 2020-01-01" in text
    assert "Black Friday" in text
    assert "Commissions: 55.00 USD" in text
    assert "Bonuses: 7.50 USD" in text
    assert "Clawbacks: 0.00 USD" in text
    assert "Total payable: 62.50 USD" in text
    assert text.count("Commission ") >= 3


async def test_a_kept_statement_is_drawn_again_whenever_what_it_prints_changes(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    program = await _program(pool)
    alice = program["affiliates"][0]
    run = await _run(client, admin)
    (payout,) = (await client.get(f"/api/v1/payouts?run={run['id']}", headers=admin)).json()[
        "items"
    ]
    monkeypatch.setattr(statement, "KEPT_FROM_LINES", 1)
    drawn: list[int] = []
    render = statement.render

    def counted(loaded: statement.Statement, *, font_path: str | None = None) -> bytes:
        drawn.append(loaded.payout.id)
        return render(loaded, font_path=font_path)

    monkeypatch.setattr(statement, "render", counted)
    url = f"/api/v1/payouts/{payout['id']}/statement.pdf"

    async def served(draws: int) -> str:
        """The statement served, after `draws` drawings in all: the same bytes as one
        drawn now from the database, without any kept copy."""
        response = await client.get(url, headers=admin)
        assert response.status_code == 200
        assert len(drawn) == draws
        fresh = await statement.pdf(
            pool,
            payout_id=payout["id"],
            only_affiliate_id=None,
            program_name="Affiliate program",
            program_address="",
            font_path=None,
        )
        del drawn[draws:]
        assert response.content == fresh
        return _pdf_text(response.content, tmp_path)

    assert "Alice Müller" in await served(1)
    await served(1)  # kept
    conversion = await pool.fetchval(
        "SELECT min(id) FROM conversions WHERE affiliate_id = $1 AND status = 'approved'", alice
    )
    # A refund: a clawback, which this payout does not print (the next one nets it off).
    await change_status(pool, conversion, "rejected", at=dt.datetime.now(dt.UTC))
    await served(1)
    renamed = await client.patch(
        f"/api/v1/offers/{program['offer_id']}", json={"name": "Renamed offer"}, headers=admin
    )
    assert renamed.status_code == 200, renamed.text
    before = await served(2)
    assert "Renamed offer" in before
    # A pixel's conversion giving up its order ID to a postback's, as attribution does
    # (past the end its column shows), then any other change of it.
    await pool.execute(attribution_queries.FREE_TXIDS, [conversion])
    assert await served(3) == before
    await pool.execute("UPDATE conversions SET txid = 'ORDER-42' WHERE id = $1", conversion)
    assert "order ORDER-42" in await served(4)
    await pool.execute("UPDATE affiliates SET company = 'Alice Ltd' WHERE id = $1", alice)
    assert "Alice Ltd" in await served(5)
    paid = await client.post(
        f"/api/v1/payouts/{payout['id']}/paid", json={"reference": "PP-9"}, headers=admin
    )
    assert paid.status_code == 200, paid.text
    text = await served(6)
    assert "Reference: PP-9" in text
    assert f"Payout #{payout['id']}, paid" in text
    await served(6)


async def test_the_request_path_is_no_payout_id(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.get("/api/v1/payouts/request", headers=admin)
    assert_error(response, 405)
    assert response.headers["allow"] == "POST"


async def test_two_runs_requested_at_once(
    client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    program = await _program(pool)
    body = {"currency": "USD", "up_to": TODAY}
    responses = await asyncio.gather(
        *(client.post("/api/v1/payout-runs", json=body, headers=admin) for _ in range(3))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses[0] == 201
    for response in responses:
        if response.status_code != 201:
            assert_error(response, 409, "payout_in_progress")
    assert await double_claims(pool) == 0
    paid = await pool.fetch("SELECT affiliate_id, amount FROM payouts")
    assert [(r["affiliate_id"], r["amount"]) for r in paid] == [
        (program["affiliates"][0], Decimal("62.50"))
    ]


async def test_a_big_run_is_exported_in_parts(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _program(pool)
    await pool.execute('UPDATE affiliates SET payout_threshold = \'{"USD": "1"}\'')
    run = await _run(client, admin)
    monkeypatch.setitem(exports.ROWS_PER_FILE, "csv", 1)
    url = f"/api/v1/payout-runs/{run['id']}/export"
    parts = [await client.get(url, params={"part": n}, headers=admin) for n in (1, 2)]
    assert [p.headers["x-export-parts"] for p in parts] == ["2", "2"]
    assert parts[1].headers["content-disposition"].endswith('-csv-part2.csv"')
    rows = [list(csv.DictReader(io.StringIO(p.text))) for p in parts]
    assert [len(r) for r in rows] == [1, 1]
    assert {rows[0][0]["amount"], rows[1][0]["amount"]} == {"62.50", "20.00"}
    assert_error(await client.get(url, params={"part": 3}, headers=admin), 404)
