"""Stats reports, as the routes and the app's start call them: plan a request, run it
read-only, and render its rows as JSON values or CSV lines."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from fastapi.responses import StreamingResponse

from app.db import Connection, Pool
from app.keys.service import Principal
from app.rollups import registry
from app.stats import planner, queries, render, request, subids
from app.stats.planner import Plan
from app.stats.request import MAX_LIMIT, Format
from app.stats.zones import TZ_NAME, zones_out_of_step

__all__ = [
    "MAX_LIMIT",
    "TZ_NAME",
    "csv_download",
    "plan",
    "report_csv",
    "report_json",
    "zones_out_of_step",
]


def plan(
    params: Mapping[str, list[str]], principal: Principal, *, among: Sequence[int] | None = None
) -> tuple[Plan, Format]:
    """Check a request's query parameters (name -> values) and plan the report (`among`:
    request.parse's)."""
    asked = request.parse(params, principal, among=among)
    return planner.plan(asked), asked.format


async def report_json(pool: Pool, plan: Plan) -> dict[str, Any]:
    report = plan.report
    # One row past the most a JSON answer holds tells that there are too many.
    capped = replace(
        report, limit=min(report.limit or render.MAX_JSON_ROWS + 1, render.MAX_JSON_ROWS + 1)
    )
    if plan.totals_reads is not None:
        # The sub-ID tier, its seals, the raw clicks and the rollups from one snapshot.
        tiered = replace(plan, report=capped)
        async with (
            pool.acquire() as conn,
            conn.transaction(readonly=True, isolation="repeatable_read"),
        ):
            await conn.execute(queries.STATEMENT_SETTINGS)
            rows = await subids.read(conn, tiered)
            if rows is not None:
                await _add_diverted(conn, tiered, rows)
        if rows is not None:
            return render.json_body(plan, rows)
    sql, args = queries.build(capped, plan.reads, totals=True)
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        await conn.execute(queries.STATEMENT_SETTINGS)
        records = await conn.fetch(sql, *args)
    return render.json_body(plan, records)


async def _add_diverted(conn: Connection, plan: Plan, rows: list[dict[str, Any]]) -> None:
    """The diverted metrics of a sub-ID tier's rows, which the tier does not hold: read
    from the raw diverted clicks of those values (the partial index of diverted clicks), in
    the same snapshot. Its totals come from the rollups, which hold them."""
    report = plan.report
    (dimension,) = report.group_by
    key = f"d_{dimension}"
    values = [r[key] for r in rows if not r["is_total"]]
    counts: dict[tuple[Any, Any], Any] = {}
    if values:
        params = queries.Params()
        only = replace(report, filters={**report.filters, dimension: values})
        sql = queries.diverted_leaf(only, params, report.start, report.end, "")
        counts = {(r[key], r["currency"]): r for r in await conn.fetch(sql, *params.values)}
    for row in rows:
        if row["is_total"]:
            continue
        found = counts.get((row[key], row["currency"]))
        for metric in registry.DIVERTED_METRICS:
            row[metric] = found[metric] if found is not None else 0


async def report_csv(pool: Pool, plan: Plan) -> AsyncIterator[bytes]:
    """The report as CSV lines, header first, streamed from a server-side cursor."""
    sql, args = queries.build(plan.report, plan.reads, totals=False)
    lines = render.CsvLines(plan)
    # Connected before the header goes out: the route reads that first chunk before the
    # response starts, so PostgreSQL out of reach is a 503, not a cut download.
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        await conn.execute(queries.STATEMENT_SETTINGS)
        yield lines.flush()
        async for record in conn.cursor(sql, *args, prefetch=2000):
            if chunk := lines.add(record):
                yield chunk
    if rest := lines.flush():
        yield rest


async def _prepended(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk


async def csv_download(pool: Pool, plan: Plan) -> StreamingResponse:
    """The report as a CSV download named by its first day (the API's and the portal's)."""
    day = plan.report.start.astimezone(plan.zone).date().isoformat()
    chunks = report_csv(pool, plan)
    header = await anext(chunks)  # connects first (see report_csv)
    return StreamingResponse(
        _prepended(header, chunks),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="stats-{day}.csv"'},
    )
