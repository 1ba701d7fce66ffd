"""SQL for /stats: the statement that reads a report from rollup tiers
(app/rollups/registry.py) or from the raw clicks and conversions. Only names from the
whitelists (app/stats/vocabulary.py, this module's columns) are spliced into SQL; every
value the client sends (time zone, range, filter values, limit) is a bound parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.rollups import registry
from app.rollups.registry import COUNT_METRICS, DIMENSION_COLUMNS, Tier
from app.stats.vocabulary import (
    GROUP_ONLY,
    ID_DIMENSIONS,
    NAME_COLUMNS,
    SUB_DIMENSIONS,
    TIME_DIMENSIONS,
)


@dataclass(frozen=True, slots=True)
class Read:
    """The rows of one tier over bucket-aligned ranges of UTC instants [start, end)."""

    tier: Tier
    ranges: tuple[tuple[datetime, datetime], ...]
    # Rows counted against the UTC day that holds them: grouped under that day's local
    # date, their amounts negated (see stats.planner._reads).
    negate: bool = False


# A read lists the buckets of its short ranges (one index probe each) and keeps long ranges
# as ranges; a local day in Asia/Kolkata is 2 + 23 + 2 buckets of three tiers.
SHORT_RANGE_BUCKETS = 64

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
    for m in registry.AMOUNTS
)
# A group is reported when it counts something, as in the raw rows: negated reads cancel
# rows out, and a rollup row whose amounts were moved away keeps its key with zeros.
_COUNTS_SOMETHING = (
    "sum(clicks) + sum(bot_clicks) + sum(conversions) + sum(pending_conversions)"
    " + sum(rejected_conversions) <> 0"
)
_NEGATED_SUMS = ", ".join(
    f"(-sum({m}))::bigint AS {m}" if m in COUNT_METRICS else f"-sum({m}) AS {m}"
    for m in registry.AMOUNTS
)
# Daily rows are labelled by their noon, the instant of the local day holding most of them
# (the whole of them when the planner reads them), and negated rows by the noon of the
# daily row they are taken out of.
_DAILY_LABEL = "(bucket + interval '12 hours')"
_NEGATED_LABEL = (
    "(date_bin('1 day', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00') + interval '12 hours')"
)
# The clicks' affiliate indexes (migrations/0012_baseline.sql) are split by the length of
# sub1: the covering one holds the short values (nearly all), a plain one the long. Read
# as one table, each half of the union is answered from its own index.
_CLICKS = """(SELECT * FROM clicks WHERE coalesce(octet_length(sub1), 0) <= 1000
         UNION ALL
         SELECT * FROM clicks WHERE coalesce(octet_length(sub1), 0) > 1000) k"""
# Clicks stored before migration 0002 have no currency of their own; the subquery runs
# for those rows only.
CLICK_CURRENCY = "coalesce(k.currency, (SELECT o.currency FROM offers o WHERE o.id = k.offer_id))"
_CLICK_SUMS = """count(*) FILTER (WHERE NOT k.is_bot) AS clicks,
       count(*) FILTER (WHERE k.is_unique AND NOT k.is_bot) AS unique_clicks,
       count(*) FILTER (WHERE k.is_bot) AS bot_clicks"""
# Diverted clicks are read apart, through the partial index that holds them alone
# (clicks_diverted_idx, migration 0073): the click sums above stay answerable from the
# covering affiliate index.
_DIVERTED_SUMS = ",\n       ".join(
    [
        "count(*) AS diverted",
        *(
            f"count(*) FILTER (WHERE k.diverted = '{reason}') AS diverted_{reason}"
            for reason in registry.DIVERTED_REASONS
        ),
    ]
)
_CONVERSION_SUMS = """count(*) FILTER (WHERE v.status = 'approved') AS conversions,
       count(*) FILTER (WHERE v.status = 'pending') AS pending_conversions,
       count(*) FILTER (WHERE v.status = 'rejected') AS rejected_conversions,
       coalesce(sum(v.revenue) FILTER (WHERE v.status = 'approved'), 0) AS revenue,
       coalesce(sum(v.payout) FILTER (WHERE v.status = 'approved'), 0) AS payout,
       count(*) FILTER (WHERE v.customer_id IS NOT NULL AND NOT v.recurring) AS new_customers,
       count(*) FILTER (WHERE v.status = 'approved' AND v.customer_id IS NOT NULL
                        AND v.recurring) AS repeat_conversions,
       coalesce(sum(v.revenue) FILTER (WHERE v.status = 'approved'
                                       AND v.customer_id IS NOT NULL), 0) AS customer_revenue"""
_DERIVED = {
    "profit": "{t}.revenue - {t}.payout",
    "cr": "CASE WHEN {t}.clicks > 0 THEN round({t}.conversions * 100.0 / {t}.clicks, 2) END",
    "epc": "CASE WHEN {t}.clicks > 0 THEN round({t}.payout / {t}.clicks, 4) END",
}


def derived(table: str) -> list[str]:
    """The derived metrics (profit, cr, epc) of the rows of `table`, as select items."""
    return [f"{expr.format(t=table)} AS {name}" for name, expr in _DERIVED.items()]


# Offsets over the coming year (now and every quarter), by PostgreSQL's rules.
ZONE_OFFSETS = """
SELECT z.name, t.at,
       extract(epoch FROM (t.at AT TIME ZONE z.name) - (t.at AT TIME ZONE 'UTC'))::int AS offset_s
FROM pg_timezone_names z
CROSS JOIN (SELECT now() + make_interval(months => m) AS at FROM generate_series(0, 9, 3) m) t
"""

# A runaway report must not hold a connection for long; sub-ID reports group hundreds of
# thousands of values, which spill to disk at the default 4 MB. JIT compiling costs ~40 ms
# on a raw-click report and saves less than that on these short aggregations.
STATEMENT_SETTINGS = (
    "SELECT set_config('statement_timeout', '30s', true), set_config('work_mem', '64MB', true),"
    " set_config('jit', 'off', true)"
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
    if dimension in GROUP_ONLY:  # ISO weeks start on Monday, as date_trunc's do
        return f"date_trunc('{dimension}', {local})::date"
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
    having: str = "",
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
        + (f"\nHAVING {having}" if having else "")
    )


def click_leaf(report: Report, params: Params, start: datetime, end: datetime, tz: str) -> str:
    """The raw clicks of [start, end) grouped as the report groups them, with the click
    metrics; `tz` is params.tz(...) when the report uses time, else ''."""
    return _leaf(
        report,
        params,
        columns=_CLICK_COLUMNS,
        ts="k.clicked_at",
        currency=CLICK_CURRENCY,
        sums=_CLICK_SUMS,
        source=_CLICKS,
        where=[f"k.clicked_at >= {params.add(start)}", f"k.clicked_at < {params.add(end)}"],
        tz=tz,
    )


def diverted_leaf(report: Report, params: Params, start: datetime, end: datetime, tz: str) -> str:
    """The diverted human clicks of [start, end) grouped as the report groups them, with the
    diverted metrics (registry.DIVERTED_METRICS)."""
    return _leaf(
        report,
        params,
        columns=_CLICK_COLUMNS,
        ts="k.clicked_at",
        currency=CLICK_CURRENCY,
        sums=_DIVERTED_SUMS,
        source="clicks k",
        where=[
            f"k.clicked_at >= {params.add(start)}",
            f"k.clicked_at < {params.add(end)}",
            "k.diverted IS NOT NULL",
            "NOT k.is_bot",
        ],
        tz=tz,
    )


def conversion_leaf(report: Report, params: Params, tz: str) -> str:
    """The raw conversions of the report's range, grouped as it groups them."""
    return _leaf(
        report,
        params,
        columns=_CONVERSION_COLUMNS,
        ts="v.created_at",
        currency="v.currency",
        sums=_CONVERSION_SUMS,
        source="conversions v",
        where=[
            f"v.created_at >= {params.add(report.start)}",
            f"v.created_at < {params.add(report.end)}",
            "v.status IN ('approved', 'pending', 'rejected')",
        ],
        tz=tz,
    )


def _buckets(read: Read, params: Params) -> str:
    """The condition that picks a read's buckets."""
    if len(read.ranges) == 1:
        ((start, end),) = read.ranges
        return f"bucket >= {params.add(start)} AND bucket < {params.add(end)}"
    grain = timedelta(seconds=read.tier.grain_s)
    listed: list[datetime] = []
    conditions = []
    for start, end in read.ranges:
        count = (end - start) // grain
        if count <= SHORT_RANGE_BUCKETS:
            listed += [start + i * grain for i in range(count)]
        else:
            conditions.append(f"(bucket >= {params.add(start)} AND bucket < {params.add(end)})")
    if listed:
        conditions.append(f"bucket = ANY({params.add(listed)}::timestamptz[])")
    return f"({' OR '.join(conditions)})" if len(conditions) > 1 else conditions[0]


def build(report: Report, reads: tuple[Read, ...] | None, *, totals: bool) -> tuple[str, list[Any]]:
    """The statement for a report read from rollup `reads` (None: the raw clicks and
    conversions).

    Its rows: one per group and currency (`is_total` false), sorted and limited, then,
    with `totals`, one per currency over all groups (`is_total` true).
    """
    params = Params()
    uses_time = any(d in TIME_DIMENSIONS for d in (*report.group_by, *report.filters))
    tz = params.tz(report.tz) if uses_time else ""
    if reads is not None:
        leaves = [
            _leaf(
                report,
                params,
                columns=DIMENSION_COLUMNS,
                ts=_NEGATED_LABEL
                if read.negate
                else _DAILY_LABEL
                if read.tier.grain_s == 86400
                else "bucket",
                currency="currency",
                sums=_NEGATED_SUMS if read.negate else _ROLLUP_SUMS,
                source=read.tier.table,
                where=[_buckets(read, params)],
                tz=tz,
                having=_COUNTS_SOMETHING,
            )
            for read in reads
        ]
    else:
        leaves = [
            click_leaf(report, params, report.start, report.end, tz),
            conversion_leaf(report, params, tz),
            diverted_leaf(report, params, report.start, report.end, tz),
        ]
    dims = [f"d_{d}" for d in report.group_by]
    keys = ", ".join([*dims, "currency"])
    if reads is not None:
        union = "\nUNION ALL\n".join(leaves)
        # One read is grouped already; several are grouped again as one.
        grouped = (
            leaves[0]
            if len(leaves) == 1
            else f"SELECT {keys}, {_ROLLUP_SUMS}\nFROM (\n{union}\n) u GROUP BY {keys}\n"
            f"HAVING {_COUNTS_SOMETHING}"
        )
    else:
        # Clicks and conversions are grouped apart and joined: summing them as one union
        # would carry every money aggregate through every click. A click's dimensions are
        # never NULL (text ones read as ''), so equal groups always meet in the join.
        # Diverted clicks are clicks, so their groups are among the clicks' groups.
        clicks_leaf, conversions_leaf, diverted = leaves
        metrics = ", ".join(f"coalesce({m}, 0) AS {m}" for m in registry.AMOUNTS)
        grouped = (
            f"SELECT {keys}, {metrics}\nFROM (\n{clicks_leaf}\n) c\n"
            f"FULL JOIN (\n{conversions_leaf}\n) v USING ({keys})\n"
            f"LEFT JOIN (\n{diverted}\n) d USING ({keys})"
        )
    names = []
    joins = []
    for dimension in report.group_by:
        if dimension in NAME_COLUMNS:
            table, column = NAME_COLUMNS[dimension]
            alias = f"n_{dimension}"
            names.append(f"{alias}.{column} AS {dimension}_name")
            joins.append(f"LEFT JOIN {table} {alias} ON {alias}.id = r.d_{dimension}")

    def order_by(table: str) -> str:
        order = []
        for column, descending in report.sort:
            expr = _DERIVED[column].format(t=table) if column in _DERIVED else column
            order.append(f"{expr} {'DESC NULLS LAST' if descending else 'ASC NULLS LAST'}")
        order += [f"{d} ASC NULLS FIRST" for d in dims if d not in {c for c, _ in report.sort}]
        order.append("currency")
        return ", ".join(order)

    limit = f"LIMIT {params.add(report.limit)}" if report.limit is not None else ""
    if totals and dims:
        # The groups are kept once and read twice: sorted and cut for the rows, summed
        # per currency for the totals. Derived metrics and names are computed for the
        # rows returned only.
        nulls = ", ".join("NULL" for _ in dims)
        sql = f"""WITH g AS MATERIALIZED (
{grouped}
), r AS (
(SELECT g.*, false AS is_total FROM g ORDER BY {order_by("g")} {limit})
UNION ALL
(SELECT {nulls}, currency, {_ROLLUP_SUMS}, true FROM g GROUP BY currency)
)
SELECT r.*, {", ".join([*derived("r"), *names])}
FROM r {" ".join(joins)}
ORDER BY is_total, {order_by("r")}"""
    else:
        sql = f"""WITH r AS (
{grouped}
)
SELECT r.*, false AS is_total, {", ".join([*derived("r"), *names])}
FROM r {" ".join(joins)}
ORDER BY {order_by("r")} {limit}"""
    return sql, params.values
