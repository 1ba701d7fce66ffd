"""`tracker dev`'s catcher: real SMTP in, .eml files out, listed at /dev/mail."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import httpx
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from app.mail import catcher
from app.mail import service as mail_service
from app.mail.mailer import Mailer
from app.main import create_app
from app.settings import Settings


async def _get(settings: Settings, path: str) -> httpx.Response:
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tracker.test") as c:
            return await c.get(path)


async def test_caught_mail_is_a_file_and_a_page(
    settings: Settings, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    folder = tmp_path / "mail"
    stop = asyncio.Event()
    server = await catcher.serve(catcher.FolderHandler(folder), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        affiliate_id = await pool.fetchval(
            "INSERT INTO affiliates (name, email) VALUES ('Kim', 'kim@aff.example') RETURNING id"
        )
        await mail_service.notify(pool, "approved", affiliate_id, {"reason": "<b>ok</b>"})
        dev = settings.model_copy(
            update={
                "smtp_url": SecretStr(f"smtp://127.0.0.1:{port}?starttls=0"),
                "dev_mail_dir": folder,
            }
        )
        await Mailer(pool, dev).run(stop=stop, burst=True)
    finally:
        server.close()
        await server.wait_closed()
    [eml] = catcher.caught(folder)
    assert b"Subject: Welcome to Example Program" in eml.read_bytes()
    assert list(folder.glob(".*")) == []  # no partial files left
    page = await _get(dev, "/dev/mail")
    assert page.status_code == 200
    assert "Welcome to Example Program" in page.text
    assert f'href="/dev/mail/{eml.name}"' in page.text
    assert "<b>ok</b>" not in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    raw = await _get(dev, f"/dev/mail/{eml.name}")
    assert raw.status_code == 200
    assert raw.headers["content-type"].startswith("text/plain")
    assert raw.content == eml.read_bytes()
    assert (await _get(dev, "/dev/mail/..%2Fsecret.eml")).status_code in (400, 404)
    production = dev.model_copy(update={"environment": "production"})
    assert (await _get(production, "/dev/mail")).status_code == 404
    assert (await _get(settings, "/dev/mail")).status_code == 404  # no catcher folder
