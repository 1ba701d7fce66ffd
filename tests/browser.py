"""Serving the app on a loopback port and driving headless Chromium through node and
playwright-core (installed by .ci/run when the machine can; tests skip without them)."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn

NODE_MODULES = Path(
    os.environ.get("TRACKER_NODE_MODULES", "~/.cache/tracker-node/node_modules")
).expanduser()
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

needs_browser = pytest.mark.skipif(
    not (shutil.which("node") and Path(CHROMIUM).exists() and NODE_MODULES.exists()),
    reason="needs node, playwright-core (npm) and chromium",
)


async def serve(app: Any, host: str) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    """`app` on host:<free port>; stop it with `server.should_exit = True; await task`."""
    config = uvicorn.Config(
        app, host=host, port=0, lifespan="off", log_level="warning", http="h11", ws="none"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    # uvicorn has no started event to wait on.
    while not server.started:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, task, f"http://{host}:{port}"


@pytest.fixture
async def tracker(app: Any) -> AsyncIterator[str]:
    """The app fixture served on a loopback port: its base URL."""
    server, task, url = await serve(app, "127.0.0.1")
    try:
        yield url
    finally:
        server.should_exit = True
        await task


async def run_script(script: Path, *args: str, seconds: float = 60, **env: str) -> Any:
    """Run a node script with playwright-core and return the JSON it prints."""
    node = await asyncio.create_subprocess_exec(
        "node",
        str(script),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "NODE_PATH": str(NODE_MODULES), "CHROMIUM": CHROMIUM, **env},
    )
    out, err = await asyncio.wait_for(node.communicate(), seconds)
    assert node.returncode == 0, err.decode()
    return orjson.loads(out)
