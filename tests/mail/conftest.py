"""Mail fixtures: a real SMTP server on loopback and settings whose SMTP_URL points at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from app.settings import Settings
from tests.conftest import ADMIN_KEY
from tests.mail.smtp_server import SmtpServer

ADDRESS = "Example Program, 1 Main St, Springfield"


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = SmtpServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path, smtp: SmtpServer) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        admin_api_key=ADMIN_KEY,
        tracker_data_dir=tmp_path / "data",
        public_url="http://tracker.test",
        migrate_on_start=False,
        redis_budget_ms=2000,
        smtp_url=SecretStr(smtp.url),
        mail_from="Example Program <program@mail.example>",
        program_name="Example Program",
        program_address=ADDRESS,
        owner_email="owner@mail.example",
        mail_retry_schedule_s=[1, 1, 1],
        mail_timeout_s=5.0,
    )
