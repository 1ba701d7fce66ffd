"""GET /api/v1/stats: reports from the rollups (or raw rows), as JSON or a CSV download."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Request, Response

from app import patterns
from app.api_params import documented, filter_parameters, raw_query
from app.deps import PoolDep, ScopedKey
from app.stats import service as stats_service
from app.stats.request import TzQuery
from app.stats.schemas import StatsOut
from app.stats.vocabulary import DIMENSIONS, FILTERS, METRICS

router = APIRouter(tags=["stats"])

_FILTERS = filter_parameters(FILTERS, on="", several="repeat the parameter for several values")


@router.get(
    "/stats",
    response_model=StatsOut,
    responses={200: {"content": {"text/csv": {}}}},
    openapi_extra={"parameters": _FILTERS},
)
async def get_stats(
    request: Request,
    pool: PoolDep,
    principal: ScopedKey,
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
        return await stats_service.csv_download(pool, plan)
    body = await stats_service.report_json(pool, plan)
    return Response(orjson.dumps(body), media_type="application/json")
