"""The `Allow` header of a 405 names exactly the methods the OpenAPI document gives the path.

A literal path (`/payout-runs/preview`) can also be matched by a path template beside it
(`/payout-runs/{run_id}`); if it is, the 405 there advertises the template's methods too.
"""

from __future__ import annotations

import re

import httpx
import pytest
from starlette.requests import Request

from app.main import create_app
from app.methods import allowed
from app.settings import Settings


def test_every_documented_path_allows_exactly_its_documented_methods() -> None:
    app = create_app(Settings(database_url="postgresql://-/-", redis_url="redis://-"))
    wrong = {}
    for path, operations in app.openapi()["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        scope = {"type": "http", "path": concrete, "method": "OPTIONS", "headers": []}
        methods = set(allowed(app, Request(scope))) - {"HEAD"}
        if methods != {method.upper() for method in operations}:
            wrong[path] = sorted(methods)
    assert wrong == {}


@pytest.mark.asyncio
async def test_a_run_id_that_is_no_number_finds_no_run(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    preview = await client.get("/api/v1/payout-runs/preview", headers=admin)
    assert preview.status_code == 405
    assert preview.headers["Allow"] == "POST"
    for path in ("/api/v1/payout-runs/abc", "/api/v1/payout-runs/-1"):
        response = await client.get(path, headers=admin)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
