"""The mail sender, run by `tracker sender` beside the postback engine: claim due outbox
rows under a lease, render them, send them over one SMTP session per batch, and record
each try (mail_attempts) with the next one scheduled on MAIL_RETRY_SCHEDULE_S.

A lease (leased_by, next_attempt_at) keeps two senders from taking one row, and every
write after the send is by the lease holder only. Delivery is at-least-once: a sender
that dies after the server took a message but before it marked the row sends it again
after the lease, with the same Message-ID (mail clients collapse the copies).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import email.utils
import logging
import uuid
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import asyncpg

from app.db import Pool
from app.mail import queries, templates, unsubscribe
from app.mail.smtp import SmtpServer, SmtpSession, parse_url
from app.sender.engine import next_attempt
from app.settings import Settings

logger = logging.getLogger(__name__)

IDLE_POLL_S = 1.0
# Headers unfolded up to SMTP's line limit: a List-Unsubscribe URL stays on one line.
_POLICY = email.policy.SMTP.clone(max_line_length=998)


def _one_line(value: str) -> str:
    return " ".join(value.split())


class Mailer:
    def __init__(self, pool: Pool, settings: Settings) -> None:
        self._pool = pool
        self._settings = settings
        url = settings.smtp_url.get_secret_value() if settings.smtp_url else None
        self.server: SmtpServer | None = parse_url(url) if url else None
        self._id = uuid.uuid4()
        self._key: bytes | None = None
        domain = email.utils.parseaddr(settings.mail_from)[1].rpartition("@")[2]
        self._domain = domain or "localhost"
        self.sent = 0
        self.failed = 0

    def _context(self, row: asyncpg.Record, key: bytes) -> templates.Context:
        s = self._settings
        list_name = templates.LISTS.get(row["kind"])
        url = None
        if list_name and row["affiliate_id"] is not None:
            token = unsubscribe.make_token(
                key, affiliate_id=row["affiliate_id"], list_name=list_name
            )
            url = f"{s.public_url}/unsubscribe/{token}"
        return templates.Context(
            program_name=s.program_name,
            program_address=s.program_address,
            public_url=s.public_url,
            # affiliate_name/affiliate_email: the user's own, for mail to a portal user.
            recipient_name=row["affiliate_name"] if not row["to_owner"] else None,
            unsubscribe_url=url,
        )

    def _skip_reason(self, row: asyncpg.Record) -> str | None:
        if row["to_owner"]:
            return None if self._settings.owner_email else "OWNER_EMAIL is unset"
        if not row["affiliate_email"]:
            return "the affiliate has no e-mail address"
        list_name = templates.LISTS.get(row["kind"])
        if list_name and not (row["preferences"] or {}).get(list_name):
            return f"unsubscribed from {list_name}"
        return None

    def message(self, row: asyncpg.Record, key: bytes) -> EmailMessage:
        context = self._context(row, key)
        if row["kind"] == "announcement":
            rendered = templates.render_announcement(
                subject=row["announcement_subject"],
                body_text=row["announcement_text"],
                body_html=row["announcement_html"],
                context=context,
            )
        else:
            data: dict[str, Any] = row["data"] or {}
            rendered = templates.render(row["kind"], data, context)
        msg = EmailMessage(policy=_POLICY)
        msg["From"] = self._settings.mail_from
        if row["to_owner"]:
            msg["To"] = self._settings.owner_email or ""
        else:
            name = _one_line(row["affiliate_name"] or "")
            msg["To"] = email.utils.formataddr((name, row["affiliate_email"]))
        msg["Subject"] = _one_line(rendered.subject)
        msg["Date"] = email.utils.formatdate(usegmt=True)
        msg["Message-ID"] = f"<{row['message_id']}@{self._domain}>"
        msg["Auto-Submitted"] = "auto-generated"
        if context.unsubscribe_url:
            # RFC 8058: the one-click POST goes to this URL with no cookies or login.
            msg["List-Unsubscribe"] = f"<{context.unsubscribe_url}>"
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg.set_content(rendered.text)
        msg.add_alternative(rendered.html, subtype="html")
        return msg

    async def _signing_key(self) -> bytes:
        if self._key is None:
            self._key = await unsubscribe.signing_key(self._pool)
        return self._key

    async def _failed(
        self, row: asyncpg.Record, error: str, code: int | None, *, permanent: bool, msg: Any
    ) -> None:
        schedule = [] if permanent else self._settings.mail_retry_schedule_s
        retry_at: datetime | None = next_attempt(row["attempts"] + 1, schedule, None)
        status = "pending" if retry_at is not None else "failed"
        if status == "failed":
            self.failed += 1
        await self._pool.execute(
            queries.MARK_FAILED_TRY,
            row["id"],
            self._id,
            status,
            retry_at,
            code,
            error[:1000],
            msg["To"] if msg is not None else None,
            msg["Subject"] if msg is not None else None,
        )

    async def run_once(self) -> int:
        """Claim a batch and send it; how many rows were claimed."""
        if self.server is None:
            return 0
        lease = timedelta(seconds=self._settings.mail_lease_s)
        rows = await self._pool.fetch(queries.CLAIM, self._settings.mail_batch, lease, self._id)
        if not rows:
            return 0
        key = await self._signing_key()
        todo: list[tuple[asyncpg.Record, EmailMessage]] = []
        for row in rows:
            reason = self._skip_reason(row)
            if reason is not None:
                await self._pool.execute(queries.MARK_SKIPPED, row["id"], self._id, reason)
            else:
                todo.append((row, self.message(row, key)))
        if todo:
            await self._send(todo)
        return len(rows)

    async def _send(self, todo: list[tuple[asyncpg.Record, EmailMessage]]) -> None:
        assert self.server is not None
        session = SmtpSession(self.server, timeout=self._settings.mail_timeout_s)
        try:
            await session.__aenter__()
        except (aiosmtplib.SMTPException, OSError) as exc:
            logger.warning("SMTP server %s: %s", self.server.redacted(), exc)
            code = getattr(exc, "code", None)
            for row, msg in todo:
                await self._failed(row, f"connect: {exc}", code, permanent=False, msg=msg)
            return
        try:
            for row, msg in todo:
                try:
                    await session.send(msg)
                except aiosmtplib.SMTPRecipientsRefused as exc:
                    codes = [r.code for r in exc.recipients]
                    permanent = all(c >= 500 for c in codes)
                    await self._failed(
                        row, str(exc), codes[0] if codes else None, permanent=permanent, msg=msg
                    )
                except aiosmtplib.SMTPResponseException as exc:
                    await self._failed(row, str(exc), exc.code, permanent=exc.code >= 500, msg=msg)
                except (aiosmtplib.SMTPException, OSError) as exc:
                    await self._failed(row, str(exc), None, permanent=False, msg=msg)
                else:
                    self.sent += 1
                    await self._pool.execute(
                        queries.MARK_SENT, row["id"], self._id, msg["To"], msg["Subject"]
                    )
        finally:
            await session.__aexit__(None, None, None)

    async def run(self, *, stop: asyncio.Event, burst: bool = False) -> None:
        if self.server is None:
            logger.warning("SMTP_URL is unset: e-mail waits in the outbox")
            if not burst:
                await stop.wait()
            return
        while not stop.is_set():
            try:
                claimed = await self.run_once()
            except (OSError, asyncpg.PostgresError) as exc:
                logger.warning("mail poll failed: %s", exc)
                claimed = 0
            if claimed:
                continue
            if burst:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), IDLE_POLL_S)
