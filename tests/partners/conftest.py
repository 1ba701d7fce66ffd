"""Partner fixtures: one affiliate made through the API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import create


@pytest.fixture
async def affiliate(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, Any]:
    return await create(client, "affiliates", {"name": "Alice"}, admin)
