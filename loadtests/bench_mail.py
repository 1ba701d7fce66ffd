"""Mail benchmark (issue 15): mails per second from the outbox to an SMTP server, and the
cost of an announcement's fan-out. Prints its figures.

    .venv/bin/python -m loadtests.bench_mail [--mails 2000] [--batch 20]

PostgreSQL: BENCH_DATABASE_URL, whose tables are emptied, else an embedded server in a
temporary folder. The SMTP server (aiosmtpd, counting and discarding what it takes) runs
in a child process on 127.0.0.1, so it does not share the sender's CPU.
  (a) one sender (`Mailer`, MAIL_BATCH per SMTP session): mails/s;
  (b) two senders sharing the outbox: mails/s, and that each mail was sent once;
  (c) POST /api/v1/announcements' transaction (audience, recipients, outbox rows) for
      every affiliate (--mails of them, all on the list): ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
from pydantic import SecretStr

from app import db, embedded
from app.mail import announcements, catcher
from app.mail.mailer import Mailer
from app.settings import Settings


class _Counter:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 OK"


async def _smtp_child() -> None:
    counter = _Counter()
    server = await catcher.serve(counter, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


_TABLES = "announcement_recipients, announcements, mail_attempts, mail_outbox, mail_preferences"


async def _fill(pool: db.Pool, count: int) -> None:
    await pool.execute(f"TRUNCATE {_TABLES}, affiliates RESTART IDENTITY CASCADE")
    await pool.execute(
        """INSERT INTO affiliates (name, email)
        SELECT 'Affiliate ' || i, 'a' || i || '@aff.example' FROM generate_series(1, $1) i""",
        count,
    )
    await pool.execute(
        "INSERT INTO mail_preferences (affiliate_id, announcements) SELECT id, true FROM affiliates"
    )


async def _mails(pool: db.Pool) -> None:
    await pool.execute(f"TRUNCATE {_TABLES.split(', mail_preferences')[0]}")
    await pool.execute(
        """INSERT INTO mail_outbox (kind, affiliate_id, data)
        SELECT 'approved', id, '{}' FROM affiliates"""
    )


async def _senders(pool: db.Pool, settings: Settings, n: int, count: int) -> float:
    await _mails(pool)
    mailers = [Mailer(pool, settings) for _ in range(n)]
    stop = asyncio.Event()
    started = time.perf_counter()
    await asyncio.gather(*(m.run(stop=stop, burst=True) for m in mailers))
    elapsed = time.perf_counter() - started
    sent = await pool.fetchval("SELECT count(*) FROM mail_outbox WHERE status = 'sent'")
    tries = await pool.fetchval("SELECT count(*) FROM mail_attempts")
    assert sent == tries == count, (sent, tries, count)
    return count / elapsed


async def _bench(database_url: str, port: int, count: int, batch: int) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await db.migrate(conn)
    finally:
        await conn.close()
    settings = Settings(
        database_url=database_url,
        smtp_url=SecretStr(f"smtp://127.0.0.1:{port}?starttls=0"),
        mail_from="Program <program@mail.example>",
        program_address="1 Main St",
        mail_batch=batch,
    )
    pool = await db.create_pool(database_url, min_size=1, max_size=4)
    try:
        await _fill(pool, count)
        one = await _senders(pool, settings, 1, count)
        print(f"(a) 1 sender, batch {batch}: {count} mails, {one:,.0f} mails/s")
        two = await _senders(pool, settings, 2, count)
        print(f"(b) 2 senders: {count} mails, {two:,.0f} mails/s, each sent once")
        await pool.execute(f"TRUNCATE {_TABLES.split(', mail_preferences')[0]}")
        body = announcements.AnnouncementIn(subject="News", body="# Hi\n\nText", audience="all")
        async with pool.acquire() as c:
            started = time.perf_counter()
            made = await announcements.create(c, body=body, author_key_id=None)
            elapsed = time.perf_counter() - started
        print(
            f"(c) announcement to {made.recipients} affiliates ({made.mailed} mailed): "
            f"{elapsed * 1000:.0f} ms"
        )
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mails", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--smtp", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smtp:
        asyncio.run(_smtp_child())
        return
    child = subprocess.Popen(
        [sys.executable, "-m", "loadtests.bench_mail", "--smtp"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        url = os.environ.get("BENCH_DATABASE_URL")
        if url:
            asyncio.run(_bench(url, port, args.mails, args.batch))
            return
        with tempfile.TemporaryDirectory(prefix="bench-mail-") as tmp:
            servers = embedded.start(Path(tmp), database="postgres", durable=False)
            try:
                asyncio.run(_bench(servers.database_url, port, args.mails, args.batch))
            finally:
                servers.stop()
    finally:
        child.terminate()
        child.wait()


if __name__ == "__main__":
    main()
