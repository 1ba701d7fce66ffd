"""SQL for /stats: the sources a report can be read from, and the statement builder.

Only names from the whitelists in this module are spliced into SQL; every value the
client sends (time zone, range, filter values, limit) is a bound parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TIME_DIMENSIONS = ("hour", "day")
ID_DIMENSIONS = ("affiliate", "offer", "link")
SUB_DIMENSIONS = ("sub1", "sub2", "sub3", "sub4", "sub5", "source")
AGENT_DIMENSIONS = ("country", "device", "os", "browser")
DIMENSIONS = (*TIME_DIMENSIONS, *ID_DIMENSIONS, *SUB_DIMENSIONS, *AGENT_DIMENSIONS)

COUNT_METRICS = (
    "clicks",
    "unique_clicks",
    "bot_clicks",
    "conversions",
    "pending_conversions",
    "rejected_conversions",
)
MONEY_METRICS = ("revenue", "payout")
METRICS = (*COUNT_METRICS, *MONEY_METRICS, "profit", "cr", "epc")
# The network's side of the money, which an affiliate key never sees.
NETWORK_METRICS = frozenset({"revenue", "profit"})

# The name shown next to an ID dimension: (table, column).
NAME_COLUMNS = {
    "affiliate": ("affiliates", "name"),
    "offer": ("offers", "name"),
    "link": ("links", "code"),
}


@dataclass(frozen=True, slots=True)
class Tier:
    """A rollup table: its time grain in seconds and the dimensions it keeps."""

    table: str
    grain_s: int
    dimensions: frozenset[str]


_COARSE = frozenset({"affiliate", "offer", "link", "country"})
# Coarsest first: the planner takes the first tier that answers a query exactly.
TIERS = (
    Tier("stats_rollup_daily_links", 86400, frozenset({"affiliate", "offer", "link"})),
    Tier("stats_rollup_daily_offer_country", 86400, frozenset({"offer", "country"})),
    Tier("stats_rollup_daily", 86400, _COARSE),
    Tier("stats_rollup_hourly", 3600, _COARSE),
    Tier("stats_rollup_links", 900, frozenset({"affiliate", "offer", "link"})),
    Tier("stats_rollup", 900, _COARSE | {"device", "os", "browser"}),
)

_ROLLUP_COLUMNS = {
    "affiliate": "affiliate_id",
    "offer": "offer_id",
    "link": "link_id",
    "country": "country",
    "device": "device",
    "os": "os",
    "browser": "browser",
}
# Raw rows keep NULL for "none"; the rollups keep ''. Both read as '' here.
_CLICK_COLUMNS = {
    "affiliate": "k.affiliate_id",
    "offer": "k.offer_id",
    "link": "k.link_id",
    **{name: f"coalesce(k.{name}, '')" for name in SUB_DIMENSIONS},
    "country": "coalesce(k.country::text, '')",
    "device": "coalesce(k.device, '')",
    "os": "coalesce(k.os, '')",
    "browser": "coalesce(k.browser, '')",
}
# A conversion carries its click's dimensions (attribution copies them, and keys the
# conversion's rollup row by them), so no click has to be looked up again.
_CONVERSION_COLUMNS = {
    "affiliate": "v.affiliate_id",
    "offer": "v.offer_id",
    "link": "v.link_id",
    **{name: f"coalesce(v.{name}, '')" for name in SUB_DIMENSIONS},
    "country": "coalesce(v.country::text, '')",
    "device": "coalesce(v.device, '')",
    "os": "coalesce(v.os, '')",
    "browser": "coalesce(v.browser, '')",
}

_ROLLUP_SUMS = ", ".join(
    f"sum({m})::bigint AS {m}" if m in COUNT_METRICS else f"sum({m}) AS {m}"
    for m in (*COUNT_METRICS, *MONEY_METRICS)
)
_CLICK_SUMS = """count(*) FILTER (WHERE NOT k.is_bot) AS clicks,
       count(*) FILTER (WHERE k.is_unique AND NOT k.is_bot) AS unique_clicks,
       count(*) FILTER (WHERE k.is_bot) AS bot_clicks,
       0::bigint AS conversions, 0::bigint AS pending_conversions,
       0::bigint AS rejected_conversions, 0::numeric AS revenue, 0::numeric AS payout"""
_CONVERSION_SUMS = """0::bigint AS clicks, 0::bigint AS unique_clicks, 0::bigint AS bot_clicks,
       count(*) FILTER (WHERE v.status = 'approved') AS conversions,
       count(*) FILTER (WHERE v.status = 'pending') AS pending_conversions,
       count(*) FILTER (WHERE v.status = 'rejected') AS rejected_conversions,
       coalesce(sum(v.revenue) FILTER (WHERE v.status = 'approved'), 0) AS revenue,
       coalesce(sum(v.payout) FILTER (WHERE v.status = 'approved'), 0) AS payout"""
_DERIVED = """g.revenue - g.payout AS profit,
       CASE WHEN g.clicks > 0 THEN round(g.conversions * 100.0 / g.clicks, 2) END AS cr,
       CASE WHEN g.clicks > 0 THEN round(g.payout / g.clicks, 4) END AS epc"""

# A runaway report must not hold a connection for long; sub-ID reports group hundreds of
# thousands of values, which spill to disk at the default 4 MB.
STATEMENT_SETTINGS = (
    "SELECT set_config('statement_timeout', '30s', true), set_config('work_mem', '64MB', true)"
)


@dataclass(slots=True)
class Params:
    """Bound parameters, numbered in the order they are added."""

    values: list[Any] = field(default_factory=list)
    _tz: str | None = None

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"

    def tz(self, name: str) -> str:
        if self._tz is None:
            self._tz = self.add(name) + "::text"
        return self._tz


@dataclass(frozen=True, slots=True)
class Report:
    """What to compute; every name in it has been checked against the whitelists."""

    start: Any  # datetime, UTC
    end: Any
    tz: str
    group_by: tuple[str, ...]
    filters: dict[str, list[Any]]
    sort: tuple[tuple[str, bool], ...]  # (column, descending)
    limit: int | None


def _time_expr(dimension: str, ts: str, tz: str) -> str:
    local = f"({ts} AT TIME ZONE {tz})"
    if dimension == "day":
        return f"{local}::date"
    # The instant the local hour starts: in a DST fall-back the two 01:00 hours stay
    # apart, and half-hour zones get their own hour boundaries.
    return f"({ts} - ({local} - date_trunc('hour', {local})))"


def _leaf(
    report: Report,
    params: Params,
    *,
    columns: dict[str, str],
    ts: str,
    currency: str,
    sums: str,
    source: str,
    where: list[str],
    tz: str,
) -> str:
    selects = []
    for dimension in report.group_by:
        expr = _time_expr(dimension, ts, tz) if dimension in TIME_DIMENSIONS else columns[dimension]
        selects.append(f"{expr} AS d_{dimension}")
    conditions = list(where)
    for dimension, values in report.filters.items():
        if dimension == "hour":
            conditions.append(
                f"extract(hour FROM {ts} AT TIME ZONE {tz})::int = ANY({params.add(values)}::int[])"
            )
        elif dimension == "day":
            conditions.append(f"({ts} AT TIME ZONE {tz})::date = ANY({params.add(values)}::date[])")
        elif dimension in ID_DIMENSIONS:
            conditions.append(f"{columns[dimension]} = ANY({params.add(values)}::bigint[])")
        else:
            conditions.append(f"{columns[dimension]} = ANY({params.add(values)}::text[])")
    group = ", ".join(str(i) for i in range(1, len(selects) + 2))
    return (
        f"SELECT {', '.join([*selects, f'{currency} AS currency'])}, {sums}\n"
        f"FROM {source}\nWHERE {' AND '.join(conditions)}\nGROUP BY {group}"
    )


def build(report: Report, tier: Tier | None, *, totals: bool) -> tuple[str, list[Any]]:
    """The statement for a report read from `tier` (None: the raw clicks and conversions).

    Its rows: one per group and currency (`is_total` false), sorted and limited, then,
    with `totals`, one per currency over all groups (`is_total` true).
    """
    params = Params()
    uses_time = any(d in TIME_DIMENSIONS for d in (*report.group_by, *report.filters))
    tz = params.tz(report.tz) if uses_time else ""
    start, end = params.add(report.start), params.add(report.end)
    if tier is not None:
        leaves = [
            _leaf(
                report,
                params,
                columns=_ROLLUP_COLUMNS,
                ts="bucket",
                currency="currency",
                sums=_ROLLUP_SUMS,
                source=tier.table,
                where=[f"bucket >= {start}", f"bucket < {end}"],
                tz=tz,
            )
        ]
    else:
        leaves = [
            _leaf(
                report,
                params,
                columns=_CLICK_COLUMNS,
                ts="k.clicked_at",
                currency="coalesce(k.currency, o.currency)",
                sums=_CLICK_SUMS,
                source="clicks k LEFT JOIN offers o ON o.id = k.offer_id",
                where=[f"k.clicked_at >= {start}", f"k.clicked_at < {end}"],
                tz=tz,
            ),
            _leaf(
                report,
                params,
                columns=_CONVERSION_COLUMNS,
                ts="v.created_at",
                currency="v.currency",
                sums=_CONVERSION_SUMS,
                source="conversions v",
                where=[
                    f"v.created_at >= {start}",
                    f"v.created_at < {end}",
                    "v.status IN ('approved', 'pending', 'rejected')",
                ],
                tz=tz,
            ),
        ]
    dims = [f"d_{d}" for d in report.group_by]
    sums = ", ".join(
        f"sum({m})::bigint AS {m}" if m in COUNT_METRICS else f"sum({m}) AS {m}"
        for m in (*COUNT_METRICS, *MONEY_METRICS)
    )
    if dims and totals:
        grouping = f"GROUPING SETS (({', '.join([*dims, 'currency'])}), (currency))"
        is_total = f"GROUPING({dims[0]}) = 1"
    else:
        grouping, is_total = ", ".join([*dims, "currency"]), "false"
    names = []
    joins = []
    for dimension in report.group_by:
        if dimension in NAME_COLUMNS:
            table, column = NAME_COLUMNS[dimension]
            alias = f"n_{dimension}"
            names.append(f"{alias}.{column} AS {dimension}_name")
            joins.append(f"LEFT JOIN {table} {alias} ON {alias}.id = g.d_{dimension}")
    order = []
    for column, descending in report.sort:
        order.append(f"{column} {'DESC NULLS LAST' if descending else 'ASC NULLS LAST'}")
    order += [f"{d} ASC NULLS FIRST" for d in dims if d not in {c for c, _ in report.sort}]
    order.append("currency")
    order_by = ", ".join(order)
    limit = f"LIMIT {params.add(report.limit)}" if report.limit is not None else ""
    union = "\nUNION ALL\n".join(leaves)
    sql = f"""WITH u AS (
{union}
), g AS (
SELECT {", ".join([*dims, "currency"])}, {sums}, {is_total} AS is_total
FROM u GROUP BY {grouping}
), s AS (
SELECT g.*, {", ".join([_DERIVED, *names])}
FROM g {" ".join(joins)}
)
"""
    if totals and dims:
        sql += f"""SELECT * FROM (
(SELECT * FROM s WHERE NOT is_total ORDER BY {order_by} {limit})
UNION ALL
(SELECT * FROM s WHERE is_total)
) r ORDER BY is_total, {order_by}"""
    else:
        sql += f"SELECT * FROM s ORDER BY {order_by} {limit}"
    return sql, params.values
