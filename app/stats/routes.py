"""GET /api/v1/stats: reports from the rollups (or raw rows), as JSON or a CSV download."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from app import patterns
from app.api_params import filter_parameters, raw_query
from app.deps import CurrentKey, PoolDep
from app.stats import service as stats_service
from app.stats.queries import DIMENSIONS, METRICS
from app.stats.schemas import StatsOut

router = APIRouter(tags=["stats"])

_FILTERS = filter_parameters(DIMENSIONS, on="", several="repeat the parameter for several values")


async def _prepended(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk


@router.get(
    "/stats",
    response_model=StatsOut,
    responses={200: {"content": {"text/csv": {}}}},
    openapi_extra={"parameters": _FILTERS},
)
async def get_stats(
    request: Request,
    pool: PoolDep,
    principal: CurrentKey,
    from_: Annotated[
        str | None,
        Query(
            alias="from",
            description="ISO date or time; default 6 days ago",
            json_schema_extra={"pattern": patterns.DATE_OR_TIME},
        ),
    ] = None,
    to: Annotated[
        str | None,
        Query(
            description="ISO date (inclusive) or time (exclusive)",
            json_schema_extra={"pattern": patterns.DATE_OR_TIME},
        ),
    ] = None,
    tz: Annotated[
        str | None,
        Query(
            description="IANA time zone, default UTC",
            json_schema_extra={"maxLength": 64, "pattern": f"^(?:{stats_service.TZ_NAME[1:-1]})?$"},
        ),
    ] = None,
    group_by: Annotated[
        str | None,
        Query(
            description=f"Comma-separated, any of {', '.join(DIMENSIONS)}, each once",
            json_schema_extra={"pattern": patterns.names(DIMENSIONS)},
        ),
    ] = None,
    sort: Annotated[
        str | None,
        Query(
            description="e.g. -clicks,day: metrics and group_by fields, `-` for descending",
            json_schema_extra={"pattern": patterns.names((*METRICS, *DIMENSIONS), sign=True)},
        ),
    ] = None,
    limit: Annotated[
        str | None,
        Query(
            description=f"Top-N rows, 1 to {stats_service.MAX_LIMIT}",
            json_schema_extra={"pattern": "^[0-9]{1,7}$"},
        ),
    ] = None,
    format: Annotated[
        str | None,
        Query(description="json (default) or csv", json_schema_extra={"enum": ["json", "csv"]}),
    ] = None,
) -> Any:
    plan, fmt = stats_service.plan(raw_query(request), principal)
    if fmt == "csv":
        day = plan.report.start.astimezone(plan.zone).date().isoformat()
        chunks = stats_service.report_csv(pool, plan)
        header = await anext(chunks)  # connects first (see report_csv)
        return StreamingResponse(
            _prepended(header, chunks),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="stats-{day}.csv"'},
        )
    body = await stats_service.report_json(pool, plan)
    return Response(orjson.dumps(body), media_type="application/json")
