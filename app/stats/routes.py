"""GET /api/v1/stats: reports from the rollups (or raw rows), as JSON or a CSV download."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from app import patterns
from app.api_params import documented, filter_parameters, raw_query
from app.deps import CurrentKey, PoolDep
from app.stats import service as stats_service
from app.stats.queries import DIMENSIONS, METRICS
from app.stats.request import TzQuery
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
        documented(
            "ISO date or time; default 6 days ago", alias="from", pattern=patterns.DATE_OR_TIME
        ),
    ] = None,
    to: Annotated[
        str | None,
        documented("ISO date (inclusive) or time (exclusive)", pattern=patterns.DATE_OR_TIME),
    ] = None,
    tz: TzQuery = None,
    group_by: Annotated[
        str | None,
        documented(
            f"Comma-separated, any of {', '.join(DIMENSIONS)}, each once",
            pattern=patterns.names(DIMENSIONS),
        ),
    ] = None,
    sort: Annotated[
        str | None,
        documented(
            "e.g. -clicks,day: metrics and group_by fields, `-` for descending",
            pattern=patterns.names((*METRICS, *DIMENSIONS), sign=True),
        ),
    ] = None,
    limit: Annotated[
        str | None,
        documented(f"Top-N rows, 1 to {stats_service.MAX_LIMIT}", pattern="^[0-9]{1,7}$"),
    ] = None,
    format: Annotated[
        str | None,
        documented("json (default) or csv", enum=["json", "csv"]),
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
