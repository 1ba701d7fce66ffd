"""What an erasure route takes from the app: the context every holder erases in."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.deps import PoolDep, RedisDep, SettingsDep
from app.privacy import holders


def erasure_context(pool: PoolDep, redis: RedisDep, settings: SettingsDep) -> holders.Context:
    return holders.Context(pool=pool, redis=redis, settings=settings)


ErasureContext = Annotated[holders.Context, Depends(erasure_context)]
