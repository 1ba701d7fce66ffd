"""Real PostgreSQL and Redis for the tests that use them, and the app.

With DATABASE_URL and REDIS_URL unset, an embedded PostgreSQL and Redis start once per
run in a temporary folder. With them set, a fresh database is created on that
PostgreSQL server for the run (and dropped after), and the Redis database the URL
names is flushed before each test that uses Redis, so point REDIS_URL at a spare
database number. The other fixtures live in tests/fixtures/, one module per resource.
"""

from __future__ import annotations

import inspect
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from app import embedded
from app.main import TrackerApp, create_app
from app.settings import Settings
from tests.helpers import ADMIN_KEY as ADMIN_KEY

# The machine running the suite may be busy (CI shares it): generating examples slowly is
# not a failure of the code under test. Every property still runs all its examples.
hypothesis_settings.register_profile(
    "tracker", suppress_health_check=[HealthCheck.too_slow], deadline=None
)
hypothesis_settings.load_profile("tracker")

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.redis",
    "tests.fixtures.catalog",
    "tests.fixtures.receiver",
]


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


@pytest.fixture(autouse=True)
def clean_state(request: pytest.FixtureRequest) -> None:
    """A test that reaches PostgreSQL starts from empty tables, one that reaches Redis
    from an empty Redis database; pure unit tests pay for neither.

    Workers commit on their own connections, so no transaction could be rolled back
    instead. A test taking the servers' URLs themselves may use either.
    """
    used = request.fixturenames
    servers = "server_urls" in inspect.signature(request.function).parameters
    if servers or "database_url" in used:
        request.getfixturevalue("empty_tables")
    if servers or "redis_url" in used:
        request.getfixturevalue("empty_redis")


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        admin_api_key=ADMIN_KEY,
        tracker_data_dir=tmp_path / "data",
        public_url="http://tracker.test",
        migrate_on_start=False,
        # A loaded CI machine can take Redis past the 50 ms budget, and a spooled record
        # would then be missing where a test looks for it in Redis; the tests of the
        # budget itself set their own.
        redis_budget_ms=2000,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[TrackerApp]:
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app: TrackerApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://tracker.test") as c:
        yield c


@pytest.fixture
def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}
