"""What the portal's browser tests share: the app on a loopback port and the folder their
screenshots go to."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import browser

ARTIFACTS = Path(
    os.environ.get("SCREENSHOT_DIR", Path(__file__).parents[2] / "test-artifacts" / "portal")
)

# The app on a loopback port, for the browser (tests/browser.py).
tracker = browser.tracker


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
