"""A real uvicorn server over loopback, with `tracker serve`'s protocols or uvicorn's own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn

from app.edge.front import FrontProtocol
from app.edge.protocol import EdgeProtocol
from app.main import TrackerApp
from tests.edge.wire import Served
from tests.helpers import create, reload_links

SECRET = "sekret-0123456789abcdef"


async def _serve(app: TrackerApp, http: Any) -> AsyncIterator[Served]:
    # As `tracker serve` runs it: uvicorn's proxy middleware would wrap the app (and hide
    # the redirector from the protocols), the app trusts X-Forwarded-* itself.
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        lifespan="off",
        log_level="warning",
        http=http,
        proxy_headers=False,
        server_header=False,
    )
    config.timeout_keep_alive = 2
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn has no started event
        await asyncio.sleep(0.01)
    yield "127.0.0.1", server.servers[0].sockets[0].getsockname()[1]
    server.should_exit = True
    await task


@pytest.fixture(params=[FrontProtocol, EdgeProtocol], ids=["front", "uvicorn-lane"])
async def edge(app: TrackerApp, request: pytest.FixtureRequest) -> AsyncIterator[Served]:
    """`tracker serve`'s protocol (front), and uvicorn's with the fast lane, which front
    hands a connection to: every test here holds for both."""
    async for served in _serve(app, request.param):
        yield served


@pytest.fixture
async def front(app: TrackerApp) -> AsyncIterator[Served]:
    async for served in _serve(app, FrontProtocol):
        yield served


@pytest.fixture
async def plain(app: TrackerApp) -> AsyncIterator[Served]:
    """uvicorn's own httptools protocol: what the fast lane must answer like."""
    async for served in _serve(app, "httptools"):
        yield served


@pytest.fixture
async def code(app: TrackerApp, catalog: dict[str, Any]) -> str:
    await reload_links(app)
    return str(catalog["alice_link"]["code"])


@pytest.fixture
async def tokens(
    app: TrackerApp, client: httpx.AsyncClient, admin: dict[str, str]
) -> dict[str, str]:
    """Postback tokens: a plain advertiser, a signing one, one that allows 10.0.0.0/8 only."""
    made = {
        "plain": await create(client, "advertisers", {"name": "Plain"}, admin),
        "signed": await create(
            client, "advertisers", {"name": "Signed", "signing_secret": SECRET}, admin
        ),
        "walled": await create(
            client, "advertisers", {"name": "Walled", "ip_allowlist": ["10.0.0.0/8"]}, admin
        ),
    }
    await app.intake.cache.load()
    return {name: str(advertiser["postback_token"]) for name, advertiser in made.items()}
