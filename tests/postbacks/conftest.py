"""Conversion fixtures: a shop (advertiser, offer, two affiliates with links)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.settings import Settings
from tests.postbacks.support import make_shop


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Retries of conversions waiting for their click come back almost at once in tests.
    settings.attribution_retry_base_s = 0.01
    return settings


@pytest.fixture
async def shop(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, Any]:
    return await make_shop(client, admin)
