"""Migration 0020 on a database with affiliates of the old statuses."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from app import db

PARTNERS = "0020_partners.sql"


@pytest.fixture
async def scratch(server_urls: tuple[str, str]) -> AsyncIterator[asyncpg.Connection]:
    admin_url = server_urls[0]
    name = f"tracker_partners_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    conn = await asyncpg.connect(admin_url.rsplit("/", 1)[0] + "/" + name)
    try:
        yield conn
    finally:
        await conn.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def test_paused_affiliates_become_suspended_and_keep_the_rest(
    scratch: asyncpg.Connection, tmp_path: Path
) -> None:
    for path in db.migration_files():
        if path.name < PARTNERS:
            shutil.copy(path, tmp_path / path.name)
    await db.migrate(scratch, tmp_path)
    await scratch.execute(
        "INSERT INTO affiliates (name, status) VALUES ('a', 'active'), ('p', 'paused'),"
        " ('x', 'archived')"
    )

    shutil.copy(db.MIGRATIONS_DIR / PARTNERS, tmp_path / PARTNERS)
    assert await db.migrate(scratch, tmp_path) == [PARTNERS]

    rows = await scratch.fetch("SELECT name, status, tags FROM affiliates ORDER BY id")
    assert [(r["name"], r["status"], r["tags"]) for r in rows] == [
        ("a", "active", []),
        ("p", "suspended", []),
        ("x", "archived", []),
    ]
    with pytest.raises(asyncpg.CheckViolationError):
        await scratch.execute("UPDATE affiliates SET status = 'paused'")
