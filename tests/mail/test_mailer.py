"""The sender's mail loop against a real SMTP server on loopback: what arrives, retries
while the server is down, and leases between two senders."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import httpx

from app.mail import queries
from app.mail import service as mail_service
from app.mail.mailer import Mailer
from app.sender import service as sender_service
from app.settings import Settings
from tests.helpers import ADMIN_KEY, affiliate_headers
from tests.mail.conftest import ADDRESS
from tests.mail.smtp_server import SmtpServer, parts

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


async def _applicant(client: httpx.AsyncClient) -> int:
    """An application through POST /apply; the affiliate's ID."""
    response = await client.post("/apply", json={"name": "Ann Lee", "email": "ann@aff.example"})
    assert response.status_code == 202, response.text
    listed = await client.get("/api/v1/affiliates?status=applied", headers=ADMIN)
    return int(listed.json()["items"][-1]["id"])


async def test_approval_arrives_by_smtp(
    client: httpx.AsyncClient, settings: Settings, smtp: SmtpServer, pool: asyncpg.Pool
) -> None:
    affiliate_id = await _applicant(client)
    response = await client.post(
        f"/api/v1/affiliates/{affiliate_id}/approve",
        json={"reason": "great site"},
        headers=ADMIN,
    )
    assert response.status_code == 200, response.text
    assert smtp.inbox.messages == []  # never sent from the request
    await sender_service.run(settings, burst=True)

    by_to = {(str(m["To"]), str(m["Subject"])): m for m in smtp.inbox.messages}
    assert set(by_to) == {
        ("Ann Lee <ann@aff.example>", "We received your application to Example Program"),
        ("owner@mail.example", "New application: Ann Lee"),
        ("Ann Lee <ann@aff.example>", "Welcome to Example Program: your application is approved"),
        # The portal's invite (app/accounts), sent to the user made for the affiliate.
        ("Ann Lee <ann@aff.example>", "Your account at Example Program"),
    }
    invite_text, _ = parts(by_to[("Ann Lee <ann@aff.example>", "Your account at Example Program")])
    assert f"{settings.public_url}/invite/" in invite_text
    approved = by_to[
        ("Ann Lee <ann@aff.example>", "Welcome to Example Program: your application is approved")
    ]
    assert approved["From"] == "Example Program <program@mail.example>"
    assert str(approved["Message-ID"]).endswith("@mail.example>")
    assert approved["Date"]
    # Transactional: no list, so no unsubscribe header.
    assert approved["List-Unsubscribe"] is None
    text, html = parts(approved)
    assert "Hello Ann Lee," in text
    assert "Note: great site" in text
    assert ADDRESS in text
    assert ADDRESS in html
    assert "<p>Note: great site</p>" in html
    owner = by_to[("owner@mail.example", "New application: Ann Lee")]
    assert "ann@aff.example" in parts(owner)[0]
    rows = await pool.fetch("SELECT status, attempts FROM mail_outbox ORDER BY id")
    assert [(r["status"], r["attempts"]) for r in rows] == [("sent", 1)] * 4
    assert await pool.fetchval("SELECT count(*) FROM mail_attempts WHERE smtp_code = 250") == 4


async def test_a_rolled_back_change_sends_nothing(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    affiliate_id = await _applicant(client)
    before = await pool.fetchval("SELECT count(*) FROM mail_outbox")
    # Suspending an applicant is refused: no status change, so no mail.
    response = await client.post(f"/api/v1/affiliates/{affiliate_id}/suspend", headers=ADMIN)
    assert response.status_code == 409
    assert await pool.fetchval("SELECT count(*) FROM mail_outbox") == before


async def test_retries_while_the_server_is_down(
    client: httpx.AsyncClient, settings: Settings, smtp: SmtpServer, pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        affiliate_id = await conn.fetchval(
            "INSERT INTO affiliates (name, email) VALUES ('Bo', 'bo@aff.example') RETURNING id"
        )
        await mail_service.notify(
            conn, "payout_paid", affiliate_id, {"amount": "12.50", "currency": "EUR"}
        )
    await smtp.stop()
    mailer = Mailer(pool, settings)
    for _ in range(2):
        assert await mailer.run_once() == 1
        row = await pool.fetchrow("SELECT * FROM mail_outbox")
        assert row is not None
        assert row["status"] == "pending"
        assert row["leased_by"] is None
        assert "connect" in row["last_error"]
        # Backoff: not due again at once.
        assert await mailer.run_once() == 0
        await pool.execute("UPDATE mail_outbox SET next_attempt_at = now()")
    await smtp.start()
    await mailer.run(stop=asyncio.Event(), burst=True)
    assert smtp.subjects() == ["Payout sent: 12.50 EUR"]
    row = await pool.fetchrow("SELECT * FROM mail_outbox")
    assert row is not None
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 3, None)
    attempts = await pool.fetch("SELECT smtp_code, error FROM mail_attempts ORDER BY id")
    assert [a["smtp_code"] for a in attempts] == [None, None, 250]
    assert all(a["error"] for a in attempts[:2])
    # Sent once: another run finds nothing.
    await mailer.run(stop=asyncio.Event(), burst=True)
    assert len(smtp.inbox.messages) == 1


async def test_gives_up_after_the_schedule(
    settings: Settings, smtp: SmtpServer, pool: asyncpg.Pool
) -> None:
    affiliate_id = await pool.fetchval(
        "INSERT INTO affiliates (name, email) VALUES ('Cy', 'cy@aff.example') RETURNING id"
    )
    await mail_service.notify(pool, "rejected", affiliate_id)
    await smtp.stop()
    mailer = Mailer(pool, settings)
    for _ in range(len(settings.mail_retry_schedule_s) + 1):
        await pool.execute("UPDATE mail_outbox SET next_attempt_at = now()")
        assert await mailer.run_once() == 1
    row = await pool.fetchrow("SELECT status, attempts FROM mail_outbox")
    assert row is not None
    assert (row["status"], row["attempts"]) == ("failed", 4)
    await pool.execute("UPDATE mail_outbox SET next_attempt_at = now()")
    assert await mailer.run_once() == 0


async def test_two_senders_send_each_mail_once(
    settings: Settings, smtp: SmtpServer, pool: asyncpg.Pool
) -> None:
    ids = [
        await pool.fetchval(
            "INSERT INTO affiliates (name, email) VALUES ($1, $2) RETURNING id",
            f"A{i}",
            f"a{i}@aff.example",
        )
        for i in range(30)
    ]
    for affiliate_id in ids:
        await mail_service.notify(pool, "approved", affiliate_id)
    small = settings.model_copy(update={"mail_batch": 4})
    one, two = Mailer(pool, small), Mailer(pool, small)
    stop = asyncio.Event()
    await asyncio.gather(one.run(stop=stop, burst=True), two.run(stop=stop, burst=True))
    ids_sent = [str(m["Message-ID"]) for m in smtp.inbox.messages]
    assert len(ids_sent) == 30
    assert len(set(ids_sent)) == 30
    assert one.sent + two.sent == 30
    assert one.sent > 0
    assert two.sent > 0
    assert await pool.fetchval("SELECT count(*) FROM mail_attempts") == 30


async def test_a_lapsed_lease_changes_nothing(
    settings: Settings, smtp: SmtpServer, pool: asyncpg.Pool
) -> None:
    """A sender whose lease ran out (another sender took the row) cannot mark it."""
    affiliate_id = await pool.fetchval(
        "INSERT INTO affiliates (name, email) VALUES ('Di', 'di@aff.example') RETURNING id"
    )
    await mail_service.notify(pool, "approved", affiliate_id)
    first = Mailer(pool, settings.model_copy(update={"mail_lease_s": 0.001}))
    rows = await pool.fetch(
        "SELECT id FROM mail_outbox WHERE status = 'pending' AND next_attempt_at <= now()"
    )
    assert len(rows) == 1
    claimed = await pool.fetch(queries.CLAIM, 10, timedelta(milliseconds=1), first._id)
    assert len(claimed) == 1
    await asyncio.sleep(0.01)
    second = Mailer(pool, settings)
    assert await second.run_once() == 1  # the lease lapsed: the second sender takes it
    status = await pool.execute(
        "UPDATE mail_outbox SET status = 'failed' WHERE id = $1 AND leased_by = $2",
        claimed[0]["id"],
        first._id,
    )
    assert status == "UPDATE 0"
    assert len(smtp.inbox.messages) == 1


async def test_owner_mail_waits_for_no_one_without_owner_email(
    settings: Settings, smtp: SmtpServer, pool: asyncpg.Pool
) -> None:
    await mail_service.notify_owner(
        pool, "webhook_disabled", {"webhook_id": 7, "url": "https://hooks.example/x"}
    )
    await Mailer(pool, settings.model_copy(update={"owner_email": None})).run_once()
    row = await pool.fetchrow("SELECT status, last_error FROM mail_outbox")
    assert row is not None
    assert (row["status"], row["last_error"]) == ("skipped", "OWNER_EMAIL is unset")
    assert smtp.inbox.messages == []
    await mail_service.notify_owner(
        pool, "webhook_disabled", {"webhook_id": 7, "url": "https://hooks.example/x"}
    )
    await Mailer(pool, settings).run_once()
    assert smtp.subjects() == ["Webhook disabled: https://hooks.example/x"]
    assert smtp.inbox.recipients == [["owner@mail.example"]]


async def test_the_outbox_api_shows_each_try(
    client: httpx.AsyncClient, settings: Settings, smtp: SmtpServer, pool: asyncpg.Pool
) -> None:
    affiliate_id = await _applicant(client)
    await smtp.stop()
    await Mailer(pool, settings).run_once()
    await pool.execute("UPDATE mail_outbox SET next_attempt_at = now()")
    await smtp.start()
    await Mailer(pool, settings).run(stop=asyncio.Event(), burst=True)
    listed = await client.get(f"/api/v1/mail?affiliate_id={affiliate_id}", headers=ADMIN)
    assert listed.status_code == 200, listed.text
    [mail] = listed.json()["items"]
    assert (mail["kind"], mail["status"], mail["attempts"]) == ("application_received", "sent", 2)
    assert mail["recipient"] == "Ann Lee <ann@aff.example>"
    detail = (await client.get(f"/api/v1/mail/{mail['id']}", headers=ADMIN)).json()
    assert [t["smtp_code"] for t in detail["tries"]] == [None, 250]
    assert detail["tries"][0]["error"].startswith("connect:")
    owner = (await client.get("/api/v1/mail?status=sent", headers=ADMIN)).json()["items"]
    assert {m["kind"] for m in owner} == {"application_received", "new_application"}
    assert (await client.get("/api/v1/mail?status=failed", headers=ADMIN)).json()["items"] == []
    assert (await client.get("/api/v1/mail/999", headers=ADMIN)).status_code == 404
    assert (await client.get("/api/v1/mail?status=lost", headers=ADMIN)).status_code == 400
    own = await affiliate_headers(client, ADMIN, affiliate_id)
    await client.post(f"/api/v1/affiliates/{affiliate_id}/approve", headers=ADMIN)
    assert (await client.get("/api/v1/mail", headers=own)).status_code == 403
