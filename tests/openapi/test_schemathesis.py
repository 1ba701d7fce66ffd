"""Schemathesis against the real service: every check, a bounded and repeatable run.

The app runs under uvicorn on a loopback port of its own, in the test's event loop, with
its lifespan and the fixtures' PostgreSQL and Redis; Schemathesis's CLI drives it from a
subprocess, exactly as a user would run it.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from app.main import create_app
from app.settings import Settings
from tests.conftest import ADMIN_KEY

EXAMPLES_PER_OPERATION = 5
CONFIG = Path(__file__).with_name("schemathesis.toml")
ROOT = Path(__file__).parents[2]


@pytest.fixture
async def live_url(settings: Settings) -> AsyncIterator[str]:
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # Which private networks a postback URL may name is the deployment's choice, which no
    # schema can state: the run allows them all, so that the schema is the only rule
    # (tests/sender/test_saved_url.py covers the refusals).
    allow_all = settings.model_copy(update={"sender_allowed_networks": ["0.0.0.0/0", "::/0"]})
    config = uvicorn.Config(
        create_app(allow_all), lifespan="on", log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving
        sock.close()


async def _seed(base_url: str) -> None:
    """One of each resource, so that operations on ID 1 reach their success answers."""
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with httpx.AsyncClient(base_url=f"{base_url}/api/v1", headers=headers) as client:
        for path, body in (
            ("advertisers", {"name": "Acme"}),
            (
                "offers",
                {"advertiser_id": 1, "name": "Shoes", "url": "https://shop.example/?c={click_id}"},
            ),
            ("affiliates", {"name": "Alice", "email": "alice@example.com"}),
            ("links", {"affiliate_id": 1, "offer_id": 1}),
            ("keys", {"role": "affiliate", "affiliate_id": 1}),
            (
                "integrations",
                {"provider": "salesforce", "advertiser_id": 1, "stage_map": {"Won": "approved"}},
            ),
        ):
            response = await client.post(f"/{path}", json=body, timeout=30)
            assert response.status_code == 201, response.text


# Every operation of the API, about 90 now: ~3 minutes on a quiet 2-core machine, more on
# a loaded one (a timeout here says nothing of the API).
@pytest.mark.timeout(900)
async def test_the_service_answers_as_its_schema_says(live_url: str, tmp_path: Path) -> None:
    await _seed(live_url)
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(CONFIG),
        "run",
        f"{live_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {ADMIN_KEY}",
        "--checks",
        "all",
        # tests/openapi/hooks.py's data_acceptance stands in for it (schemathesis.toml).
        "--exclude-checks",
        "positive_data_acceptance",
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--generation-deterministic",
        # The stateful phase alone takes a minute on a 2-core machine: it is left to
        # manual runs (README); these three cover every operation and check.
        "--phases",
        "examples,coverage,fuzzing",
        "--workers",
        "1",
        "--no-color",
        "--request-timeout",
        "10",
    ]
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.openapi.hooks", "PYTHONPATH": str(ROOT)},
    )
    output, _ = await process.communicate()
    report = output.decode(errors="replace")
    (tmp_path / "report.txt").write_text(report)
    assert process.returncode == 0, report
