"""Real PostgreSQL and Redis for every test.

With DATABASE_URL and REDIS_URL unset, an embedded PostgreSQL and Redis start once per
run in a temporary folder. With them set, a fresh database is created on that
PostgreSQL server for the run (and dropped after), and the Redis database the URL
names is flushed between tests, so point REDIS_URL at a spare database number.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from redis.asyncio import Redis

from app import db, embedded
from app.settings import Settings
from tests.helpers import create

ADMIN_KEY = "test-admin-key-0123456789abcdef"


@pytest.fixture(scope="session")
def server_urls() -> Iterator[tuple[str, str]]:
    database_url, redis_url = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    if database_url and redis_url:
        yield database_url, redis_url
        return
    with tempfile.TemporaryDirectory(prefix="tracker-test-") as tmp:
        servers = embedded.start(Path(tmp), database="postgres", durable=False)
        embedded.use_postgres_time_zones()
        try:
            yield servers.database_url, servers.redis_url
        finally:
            servers.stop()


@pytest.fixture(scope="session")
async def database_url(server_urls: tuple[str, str]) -> AsyncIterator[str]:
    """A database of this run's own, migrated once."""
    admin_url = server_urls[0]
    name = f"tracker_test_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    conn = await asyncpg.connect(url)
    try:
        await db.migrate(conn)
    finally:
        await conn.close()
    yield url
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
def settings(database_url: str, server_urls: tuple[str, str], tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=server_urls[1],
        admin_api_key=ADMIN_KEY,  # type: ignore[arg-type]
        tracker_data_dir=tmp_path / "data",
        public_url="http://tracker.test",
        migrate_on_start=False,
    )


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await db.create_pool(database_url, min_size=1, max_size=4)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def redis(server_urls: tuple[str, str]) -> AsyncIterator[Redis]:
    client = Redis.from_url(server_urls[1])
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(autouse=True)
async def clean_state(database_url: str, server_urls: tuple[str, str]) -> None:
    """Each test starts from empty tables and an empty Redis database."""
    conn = await asyncpg.connect(database_url)
    try:
        tables = await conn.fetch(
            """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                 AND c.relname <> 'schema_migrations'"""
        )
        names = ", ".join(f'"{t["relname"]}"' for t in tables)
        await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()
    client = Redis.from_url(server_urls[1])
    try:
        await client.flushdb()
    finally:
        await client.aclose()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    from app.main import create_app

    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://tracker.test") as c:
        yield c


@pytest.fixture
def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
async def catalog(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, Any]:
    """An advertiser, an active offer, two affiliates and a link for each."""
    advertiser = await create(client, "advertisers", {"name": "Acme"}, admin)
    offer = await create(
        client,
        "offers",
        {
            "advertiser_id": advertiser["id"],
            "name": "Acme Shoes",
            "url": "https://shop.example/landing?cid={click_id}&s1={sub1}",
            "fallback_url": "https://shop.example/",
            "revenue": {"type": "fixed", "value": "4.00"},
            "payout": {"type": "fixed", "value": "2.50"},
        },
        admin,
    )
    alice = await create(client, "affiliates", {"name": "Alice"}, admin)
    bob = await create(client, "affiliates", {"name": "Bob"}, admin)
    alice_link = await create(
        client, "links", {"affiliate_id": alice["id"], "offer_id": offer["id"]}, admin
    )
    bob_link = await create(
        client, "links", {"affiliate_id": bob["id"], "offer_id": offer["id"]}, admin
    )
    return {
        "advertiser": advertiser,
        "offer": offer,
        "alice": alice,
        "bob": bob,
        "alice_link": alice_link,
        "bob_link": bob_link,
    }
