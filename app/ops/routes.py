from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError

from app.deps import AdminKey, PoolDep, RedisDep, SettingsDep
from app.ops import health as health_keys
from app.ops import pipeline
from app.redirect import metrics as link_metrics
from app.streams import keys

router = APIRouter(tags=["operations"])

CHECK_TIMEOUT_S = 2.0


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: the process answers. Touches no dependency, so a slow database
    does not get healthy processes restarted."""
    return {"status": "ok"}


async def _check(name: str, probe: Any) -> tuple[str, str]:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await probe
    except Exception as exc:  # readiness reports any failure, whatever its type
        return name, f"error: {type(exc).__name__}"
    return name, "ok"


@router.get(
    "/ready",
    responses={
        503: {
            "description": "a dependency is unreachable",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def ready(pool: PoolDep, redis: RedisDep, settings: SettingsDep) -> JSONResponse:
    """Readiness: PostgreSQL and Redis both answer. The click streams' lag (entries not
    yet stored) and the counts of live workers and senders are reported too; a backlog,
    or no worker or sender, does not make this web process unready, as it can still take
    clicks durably."""
    checks = dict(
        await asyncio.gather(
            _check("postgres", pool.fetchval("SELECT 1")),
            _check("redis", redis.ping()),
        )
    )
    ok = all(v == "ok" for v in checks.values())
    body: dict[str, Any] = {"status": "ready" if ok else "unavailable", "checks": checks}
    if checks["redis"] == "ok":
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                shards = [
                    await pipeline.shard_state(redis, key)
                    for stream in (keys.CLICKS, keys.CONVERSIONS)
                    for key in keys.shard_keys(stream, settings.stream_shards)
                ]
            body["stream_lag"] = {s.stream: s.lag + s.pending for s in shards}
        # Information only: a web process is ready whether or not a worker or sender runs.
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                body["workers"] = await health_keys.alive(redis, "worker")
                body["senders"] = await health_keys.alive(redis, "sender")
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(redis: RedisDep, settings: SettingsDep) -> PlainTextResponse:
    """Prometheus metrics: the fleet-wide pipeline counters and this process's own."""
    states = [
        await pipeline.pipeline_state(redis, settings, stream)
        for stream in (keys.CLICKS, keys.CONVERSIONS)
    ]
    body = pipeline.prometheus_text(states) + generate_latest().decode()
    body += await link_metrics.prometheus_text(redis)
    return PlainTextResponse(body, media_type=CONTENT_TYPE_LATEST)


@router.get("/pipeline")
async def pipeline_report(redis: RedisDep, settings: SettingsDep, _: AdminKey) -> JSONResponse:
    """Reconciliation per stream: served = stored + in flight + dead-lettered (balance 0).
    Admin only."""
    return JSONResponse(
        {
            stream: (await pipeline.pipeline_state(redis, settings, stream)).as_dict()
            for stream in (keys.CLICKS, keys.CONVERSIONS)
        }
    )
