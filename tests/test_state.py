from __future__ import annotations

import pytest
from fastapi import FastAPI

from app.main import create_app
from app.settings import Settings
from app.state import AppState


def test_there_is_no_state_before_the_lifespan(settings: Settings) -> None:
    with pytest.raises(RuntimeError, match="lifespan has not started"):
        AppState.of(create_app(settings))


async def test_the_lifespan_builds_the_state_complete(app: FastAPI, settings: Settings) -> None:
    state = AppState.of(app)

    assert state.settings is settings
    assert state.redirector is app.state.redirector
    assert state.intake is app.state.intake
    assert await state.pool.fetchval("SELECT 1") == 1
    assert await state.redis.ping()
