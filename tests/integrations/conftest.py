"""Integration tests: conversions, so retries of conversions come back almost at once."""

from __future__ import annotations

import pytest

from app.settings import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Retries of conversions waiting for their click come back almost at once in tests.
    settings.attribution_retry_base_s = 0.01
    return settings
