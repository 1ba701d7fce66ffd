"""What the portal's tests share: the app on a loopback port and the folder the browser
tests' screenshots go to, and Alice's affiliate user signed in."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.db import Pool
from tests import browser
from tests.support.portal import make_user, signed_in

ARTIFACTS = Path(
    os.environ.get("SCREENSHOT_DIR", Path(__file__).parents[2] / "test-artifacts" / "portal")
)

# The app on a loopback port, for the browser (tests/browser.py).
tracker = browser.tracker


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
async def alice(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], pool: Pool, catalog: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The browser of Alice's affiliate user (invited by the admin), signed in."""
    await make_user(
        app,
        client,
        admin,
        pool,
        email="alice@example.com",
        role="affiliate",
        affiliate_id=catalog["alice"]["id"],
    )
    async with signed_in(app, "alice@example.com") as person:
        yield person
