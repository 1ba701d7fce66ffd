"""The counts of a funnel: clicks from the stats rollups (exact in any zone, planned as
/stats plans them), the offer's goals and purchases from its approved conversions."""

from __future__ import annotations

from typing import Any

from app.db import Connection
from app.reports.request import FunnelRequest
from app.stats import planner
from app.stats import queries as stats_queries
from app.stats.queries import Report
from app.stats.request import ReportRequest

# The main goal first, then the other goals in the order the offer lists them.
OFFER = """
SELECT o.main_goal,
       coalesce(array(SELECT g.name FROM offer_goals g WHERE g.offer_id = o.id ORDER BY g.name),
                '{}') AS goals
FROM offers o WHERE o.id = $1"""

# A conversion carries its click's dimensions, as its rollup row is keyed.
_COLUMNS = {
    "affiliate": "v.affiliate_id",
    "link": "v.link_id",
    "country": "coalesce(v.country::text, '')",
}


def _conversions(asked: FunnelRequest) -> tuple[str, list[Any]]:
    group = _COLUMNS[asked.group_by] if asked.group_by else "NULL::text"
    args: list[Any] = [asked.offer_id, asked.range.start, asked.range.end]
    own = ""
    if asked.affiliate_id is not None:
        args.append(asked.affiliate_id)
        own = " AND v.affiliate_id = $4"
    sql = f"""SELECT {group} AS g, v.goal, count(*) AS n,
       count(*) FILTER (WHERE v.customer_id IS NOT NULL AND NOT v.recurring) AS first,
       count(*) FILTER (WHERE v.customer_id IS NOT NULL AND v.recurring) AS repeat
FROM conversions v
WHERE v.offer_id = $1 AND v.created_at >= $2 AND v.created_at < $3
  AND v.status = 'approved'{own}
GROUP BY 1, 2"""
    return sql, args


async def counts(
    conn: Connection, asked: FunnelRequest, goals: list[str]
) -> dict[Any, dict[str, int]]:
    """Group value (None without group_by) -> step name -> count: clicks, unique_clicks,
    goal:<name> for each of `goals`, first_purchases, repeat_purchases."""
    filters: dict[str, list[Any]] = {"offer": [asked.offer_id]}
    if asked.affiliate_id is not None:
        filters["affiliate"] = [asked.affiliate_id]
    report = Report(
        start=asked.range.start,
        end=asked.range.end,
        tz=asked.range.zone.key,
        group_by=(asked.group_by,) if asked.group_by else (),
        filters=filters,
        sort=(),
        limit=None,
    )
    plan = planner.plan(ReportRequest(report, asked.range.zone, frozenset(), "json"))
    sql, args = stats_queries.build(report, plan.reads, totals=False)
    out: dict[Any, dict[str, int]] = {}
    for r in await conn.fetch(sql, *args):
        into = out.setdefault(r[f"d_{asked.group_by}"] if asked.group_by else None, {})
        for name in ("clicks", "unique_clicks"):
            into[name] = into.get(name, 0) + r[name]
    wanted = set(goals)
    sql, args = _conversions(asked)
    for r in await conn.fetch(sql, *args):
        into = out.setdefault(r["g"] if asked.group_by else None, {})
        if r["goal"] in wanted:
            into[f"goal:{r['goal']}"] = into.get(f"goal:{r['goal']}", 0) + r["n"]
        into["first_purchases"] = into.get("first_purchases", 0) + r["first"]
        into["repeat_purchases"] = into.get("repeat_purchases", 0) + r["repeat"]
    return out
