"""GET /api/v1/reports/cohorts and /api/v1/reports/funnel."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response

from app import patterns
from app.api_params import documented, filter_parameters, raw_query
from app.deps import CurrentKey, PoolDep
from app.patterns import MAX_ID
from app.reports import service
from app.reports.request import BINDING, COHORT_GROUPS, COHORT_METRICS, FUNNEL_GROUPS
from app.reports.schemas import CohortsOut, FunnelOut
from app.stats.request import TzQuery

router = APIRouter(prefix="/reports", tags=["reports"])

_FILTERS = filter_parameters(
    BINDING, on="the customers' binding ", several="repeat the parameter for several"
)
FromQuery = Annotated[
    str | None,
    documented("ISO date or time", alias="from", pattern=patterns.DATE_OR_TIME),
]
ToQuery = Annotated[
    str | None,
    documented(
        "ISO date (inclusive) or time (exclusive); default today", pattern=patterns.DATE_OR_TIME
    ),
]
CohortGroupBy = Annotated[
    str | None, documented("One of the customers' binding fields", enum=list(COHORT_GROUPS))
]
FunnelGroupBy = Annotated[
    str | None, documented("affiliate, link or country", enum=list(FUNNEL_GROUPS))
]


def _json(body: dict[str, Any]) -> Response:
    """A report as its service built it (the response model's shape), sent without being
    validated again."""
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("/cohorts", response_model=CohortsOut, openapi_extra={"parameters": _FILTERS})
async def get_cohorts(
    request: Request,
    pool: PoolDep,
    principal: CurrentKey,
    from_: FromQuery = None,
    to: ToQuery = None,
    tz: TzQuery = None,
    period: Annotated[
        str | None,
        documented("week (from Monday) or month, default month", enum=["week", "month"]),
    ] = None,
    metric: Annotated[
        str | None,
        documented(
            "Default revenue (admin keys only); affiliate keys: payout, customers or conversions",
            enum=list(COHORT_METRICS),
        ),
    ] = None,
    group_by: CohortGroupBy = None,
) -> Any:
    return _json(await service.cohorts(pool, raw_query(request), principal))


@router.get("/funnel", response_model=FunnelOut, responses={404: {"description": "no such offer"}})
async def get_funnel(
    request: Request,
    pool: PoolDep,
    principal: CurrentKey,
    offer: Annotated[int, Query(ge=1, le=MAX_ID, description="The offer's ID")],
    from_: FromQuery = None,
    to: ToQuery = None,
    tz: TzQuery = None,
    group_by: FunnelGroupBy = None,
) -> Any:
    return _json(await service.funnel(pool, raw_query(request), principal))
