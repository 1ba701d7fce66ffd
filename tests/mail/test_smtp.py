"""SMTP_URL: schemes, ports, credentials and when STARTTLS is required."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from pydantic import SecretStr

from app.mail import service as mail_service
from app.mail.mailer import Mailer
from app.mail.smtp import BadSmtpUrl, parse_url
from app.settings import Settings
from tests.mail.smtp_server import SmtpServer


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example", ("mail.example", 25, None, None, False, None)),
        ("smtp://mail.example:587", ("mail.example", 587, None, None, False, None)),
        ("smtp://u%40x:p%3Aw@mail.example:587", ("mail.example", 587, "u@x", "p:w", False, True)),
        ("smtp://u:p@127.0.0.1:2525", ("127.0.0.1", 2525, "u", "p", False, None)),
        ("smtp://u:p@localhost", ("localhost", 25, "u", "p", False, None)),
        ("smtp://mail.example?starttls=1", ("mail.example", 25, None, None, False, True)),
        ("smtp://u:p@mail.example?starttls=0", ("mail.example", 25, "u", "p", False, False)),
        ("smtps://u:p@mail.example", ("mail.example", 465, "u", "p", True, False)),
        ("smtps://mail.example:2465", ("mail.example", 2465, None, None, True, False)),
    ],
)
def test_parse(url: str, expected: tuple[object, ...]) -> None:
    s = parse_url(url)
    assert (s.host, s.port, s.username, s.password, s.implicit_tls, s.starttls) == expected


@pytest.mark.parametrize(
    "url",
    ["http://mail.example", "smtp://", "smtp://mail.example:99999", "smtp://h?starttls=maybe"],
)
def test_bad_urls(url: str) -> None:
    with pytest.raises(BadSmtpUrl):
        parse_url(url)


def test_redacted_hides_the_password() -> None:
    assert (
        parse_url("smtps://me:secret@mail.example").redacted() == "smtps://me:***@mail.example:465"
    )


async def test_required_starttls_that_the_server_lacks_is_retried(
    settings: Settings, smtp: SmtpServer, pool: asyncpg.Pool
) -> None:
    affiliate_id = await pool.fetchval(
        "INSERT INTO affiliates (name, email) VALUES ('Jo', 'jo@aff.example') RETURNING id"
    )
    await mail_service.notify(pool, "approved", affiliate_id)
    url = f"smtp://127.0.0.1:{smtp.port}?starttls=1"
    strict = settings.model_copy(update={"smtp_url": SecretStr(url)})
    await Mailer(pool, strict).run(stop=asyncio.Event(), burst=True)
    assert smtp.inbox.messages == []
    row = await pool.fetchrow("SELECT status, attempts, last_error FROM mail_outbox")
    assert row is not None
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "STARTTLS" in row["last_error"].upper()


def test_a_bad_smtp_url_is_refused_at_start_without_its_password() -> None:
    with pytest.raises(ValueError, match="bad port") as caught:
        Settings(smtp_url=SecretStr("smtp://me:hunter2secret@mail.example:99999"))
    assert "hunter2secret" not in str(caught.value)
    assert Settings(smtp_url=SecretStr("")).smtp_url is None
