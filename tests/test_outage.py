"""PostgreSQL or Redis really stopped under a running app: 503, Retry-After, the JSON
error shape, one log line and no traceback.

The app runs on servers of this test's own (an embedded PostgreSQL and Redis started in a
temporary folder), so stopping them leaves the session's servers alone.
"""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app import embedded
from app.main import TrackerApp, create_app
from app.settings import Settings
from tests.conftest import ADMIN_KEY
from tests.helpers import assert_error, create

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
UNKNOWN_KEY = {"Authorization": "Bearer trk_no-such-key-0123456789"}


@pytest.fixture
async def servers() -> AsyncIterator[embedded.EmbeddedServers]:
    # Not under tmp_path: pytest keeps its base folder private (0700), and the PostgreSQL
    # system user of a root run must reach the data folder.
    with tempfile.TemporaryDirectory(prefix="tracker-outage-") as folder:
        started = await asyncio.to_thread(
            embedded.start, Path(folder), database="tracker", durable=False
        )
        try:
            yield started
        finally:
            await asyncio.to_thread(started.stop)


@pytest.fixture
async def own_app(servers: embedded.EmbeddedServers, tmp_path: Path) -> AsyncIterator[TrackerApp]:
    settings = Settings(
        database_url=servers.database_url,
        redis_url=servers.redis_url,
        admin_api_key=ADMIN_KEY,
        tracker_data_dir=tmp_path / "data",
        public_url="http://tracker.test",
        migrate_on_start=True,
        db_pool_min=1,
        db_pool_max=2,
    )
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def own_client(own_app: TrackerApp) -> AsyncIterator[httpx.AsyncClient]:
    # App exceptions are raised, not turned into 500s: an unhandled one fails the test.
    transport = httpx.ASGITransport(app=own_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://tracker.test") as c:
        yield c


def _stop(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    proc.send_signal(sig)
    proc.wait(30)


def assert_unavailable(response: httpx.Response, server: str) -> None:
    error = assert_error(response, 503, "unavailable")
    assert server in error["message"]
    assert response.headers["Retry-After"].isdigit()
    assert int(response.headers["Retry-After"]) > 0


def keyed_operations(app: TrackerApp) -> list[tuple[str, str]]:
    """(method, path) of every documented operation that takes an API key, IDs filled in."""
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", "1", path))
        for path, operations in app.openapi()["paths"].items()
        for method, operation in operations.items()
        if operation.get("security")
    ]


def assert_one_line_each(caplog: pytest.LogCaptureFixture, *, at_least: int) -> None:
    """Every record is a single line without a traceback, and none is an error."""
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(records) >= at_least
    for record in records:
        assert record.exc_info is None, record.getMessage()
        assert record.levelno < logging.ERROR, record.getMessage()
        assert "\n" not in record.getMessage()


async def test_postgres_down_answers_503_on_every_route(
    servers: embedded.EmbeddedServers,
    own_app: TrackerApp,
    own_client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    affiliate = await create(own_client, "affiliates", {"name": "Alice"}, ADMIN)
    key = await create(
        own_client, "keys", {"role": "affiliate", "affiliate_id": affiliate["id"]}, ADMIN
    )
    affiliate_key = {"Authorization": f"Bearer {key['key']}"}
    assert (await own_client.get("/api/v1/stats", headers=ADMIN)).status_code == 200

    await asyncio.to_thread(_stop, servers.postgres, signal.SIGINT)  # a fast shutdown
    caplog.clear()
    caplog.set_level(logging.INFO)

    requests: list[tuple[str, str, dict[str, str], Any]] = [
        ("GET", "/api/v1/affiliates", ADMIN, None),
        ("POST", "/api/v1/affiliates", ADMIN, {"name": "Bob"}),
        ("PATCH", f"/api/v1/affiliates/{affiliate['id']}", ADMIN, {"name": "Alicia"}),
        ("GET", "/api/v1/stats", ADMIN, None),
        ("GET", "/api/v1/stats?format=csv", ADMIN, None),
        ("GET", "/api/v1/links", UNKNOWN_KEY, None),
        ("GET", "/api/v1/links", affiliate_key, None),
        ("GET", "/api/v1/conversions", ADMIN, None),
    ]
    # Authentication of a key that is not the environment's reads PostgreSQL on every
    # operation: all of them answer 503.
    requests += [(m, p, UNKNOWN_KEY, {}) for m, p in keyed_operations(own_app)]
    assert len(requests) > 30
    for method, path, headers, body in requests:
        response = await own_client.request(method, path, headers=headers, json=body)
        assert response.status_code == 503, (method, path, response.text)
        assert_unavailable(response, "PostgreSQL")

    # Readiness says so in its own words; liveness and the Redis-only routes still work.
    assert (await own_client.get("/ready")).status_code == 503
    assert (await own_client.get("/health")).status_code == 200
    assert (await own_client.get("/metrics")).status_code == 200
    assert_one_line_each(caplog, at_least=len(requests))
    outage_lines = [r for r in caplog.records if r.name == "app.outage"]
    assert len(outage_lines) == len(requests)
    assert all("PostgreSQL out of reach" in r.getMessage() for r in outage_lines)


async def test_redis_down_answers_503_where_a_route_needs_redis(
    servers: embedded.EmbeddedServers,
    own_client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    affiliate = await create(own_client, "affiliates", {"name": "Alice"}, ADMIN)

    await asyncio.to_thread(_stop, servers.redis, signal.SIGTERM)
    caplog.clear()
    caplog.set_level(logging.INFO)

    for path in ("/metrics", "/api/v1/pipeline"):
        assert_unavailable(await own_client.get(path, headers=ADMIN), "Redis")
    # The catalog itself lives in PostgreSQL: changes still work (the caches' change
    # notice is lost and they refresh on their TTL).
    changed = await own_client.patch(
        f"/api/v1/affiliates/{affiliate['id']}", json={"name": "Alicia"}, headers=ADMIN
    )
    assert changed.status_code == 200, changed.text
    assert (await own_client.get("/api/v1/affiliates", headers=ADMIN)).status_code == 200
    assert_one_line_each(caplog, at_least=2)
