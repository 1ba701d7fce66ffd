"""A real uvicorn server over loopback, with `tracker serve`'s protocol or uvicorn's own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from app.edge.protocol import EdgeProtocol
from app.main import TrackerApp
from tests.edge.wire import Served
from tests.helpers import reload_links


async def _serve(app: TrackerApp, http: Any) -> AsyncIterator[Served]:
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="off", log_level="warning", http=http
    )
    config.timeout_keep_alive = 2
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn has no started event
        await asyncio.sleep(0.01)
    yield "127.0.0.1", server.servers[0].sockets[0].getsockname()[1]
    server.should_exit = True
    await task


@pytest.fixture
async def edge(app: TrackerApp) -> AsyncIterator[Served]:
    async for served in _serve(app, EdgeProtocol):
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
