"""SMTP_URL, and one SMTP session that sends a batch of messages (aiosmtplib).

- `smtp://user:pass@host:587`: plain connection, upgraded with STARTTLS when the server
  offers it; with a user name the upgrade is required (a password never goes in clear),
  except to a loopback host. `?starttls=1` requires it, `?starttls=0` never upgrades.
- `smtps://user:pass@host:465`: TLS from the first byte (implicit TLS).
Default ports: 25 (smtp), 465 (smtps). User name and password are percent-decoded.
"""

from __future__ import annotations

import email.utils
import ipaddress
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib


class BadSmtpUrl(ValueError): ...


@dataclass(frozen=True, slots=True)
class SmtpServer:
    host: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool
    # True: required, None: when offered, False: never.
    starttls: bool | None

    def redacted(self) -> str:
        scheme = "smtps" if self.implicit_tls else "smtp"
        user = f"{self.username}:***@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_url(url: str) -> SmtpServer:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise BadSmtpUrl("SMTP_URL must start with smtp:// or smtps://")
    if not parts.hostname:
        raise BadSmtpUrl("SMTP_URL names no host")
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
    except ValueError:
        raise BadSmtpUrl("SMTP_URL has a bad port") from None
    query = parse_qs(parts.query)
    flag = (query.get("starttls") or [""])[-1].lower()
    if flag not in ("", "1", "true", "0", "false"):
        raise BadSmtpUrl("SMTP_URL: starttls is 1 or 0")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    implicit = parts.scheme == "smtps"
    starttls: bool | None = None
    if flag in ("1", "true"):
        starttls = True
    elif flag in ("0", "false"):
        starttls = False
    elif username and not _loopback(parts.hostname):
        starttls = True
    if implicit:
        starttls = False  # already TLS
    return SmtpServer(parts.hostname, port, username, password, implicit, starttls)


class SmtpSession:
    """One connection for a batch; `send` raises aiosmtplib's errors for the caller to
    judge (SMTPResponseException.code >= 500 is permanent)."""

    def __init__(self, server: SmtpServer, *, timeout: float) -> None:
        self._client = aiosmtplib.SMTP(
            hostname=server.host,
            port=server.port,
            username=server.username,
            password=server.password,
            use_tls=server.implicit_tls,
            start_tls=server.starttls,
            timeout=timeout,
        )

    async def __aenter__(self) -> SmtpSession:
        await self._client.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self._client.is_connected:
                await self._client.quit()
        except (aiosmtplib.SMTPException, OSError):
            self._client.close()

    async def send(self, message: EmailMessage) -> None:
        """Send as the message's own policy writes it (aiosmtplib's would fold headers
        at 78 characters, a List-Unsubscribe URL among them)."""
        if not self._client.is_connected:
            await self._client.connect()
        sender = email.utils.parseaddr(str(message["From"]))[1]
        recipient = email.utils.parseaddr(str(message["To"]))[1]
        raw = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
        await self._client.sendmail(sender, [recipient], raw)
