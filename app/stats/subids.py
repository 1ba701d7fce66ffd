"""Top-N sub-ID reports of one affiliate, or of the whole network (no filter), from the
sub-ID tier (app/rollups/subids.py), exact: the same rows as the raw clicks and
conversions give (app/stats/queries.py).

The range is read from the tier for the UTC days it lies over whose seal the rollups
confirm, and from the raw clicks for the rest (zone edges, the hours not sealed yet, days
with clicks stored late). Each of those lists (a day, the raw rest) is read for its top K
values by clicks: every value outside a list's top K has at most the K-th count there,
so a value in no top K has at most the sum of those K-th counts (the bound). The values
in some top K (the candidates) are summed over every list; when the N-th row has more
clicks than the bound, no other value can be in the top N, and the rows are exact. Else
K grows fourfold, and past MAX_K the raw statement answers. Conversions are read as the
raw statement reads them, the totals from the rollups.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from app.db import Connection
from app.rollups import registry
from app.rollups import subids as tier
from app.stats import queries, vocabulary
from app.stats.planner import Plan
from app.stats.queries import Params, Report

# K starts at twice the limit (and a margin): enough for skewed sub-IDs (the busiest
# affiliate's top 20 sub1 over 7 days: bound 175 against a 20th row of 290 at K = 48);
# each K probes the tier for every candidate on every day, so a larger one costs more.
MAX_K = 8192
GROWTH = 4
# What an index probe of the tier costs against a raw click grouped (see _raw_is_cheaper):
# EXPLAIN ANALYZE of the busiest affiliate's 7 days, about 30 us a probe against 1-2 us a
# raw click.
PROBE_COST = 20


def first_k(limit: int) -> int:
    return 8 + 2 * limit


# The sealed days in [$2, $3) whose tier count for affiliate $1 the rollups confirm.
_CONFIRMED = tier.ROLLUP_CLICKS.format(
    affiliate="$1", start="(s.day::timestamp AT TIME ZONE 'UTC')", end="s.sealed_until"
)
CONFIRMED_DAYS = f"""
SELECT s.day, s.sealed_until, n.clicks FROM stats_subids_seals s
CROSS JOIN LATERAL (SELECT coalesce((SELECT c.clicks FROM stats_subids_counted c
                    WHERE c.day = s.day AND c.affiliate_id = $1), 0) AS clicks) n
WHERE s.day >= $2 AND s.day < $3 AND {tier.HAS_PARTITION.format(day="s.day")}
  AND n.clicks = {_CONFIRMED}
"""

# Whether affiliate $1 (NETWORK: any) had clicks in [$2, $3) on a day whose partition
# retention dropped: the rollups, which answer the totals, keep those clicks; the raw rows
# do not.
LOST_DAYS = f"""
SELECT EXISTS (SELECT FROM stats_rollup_daily_links r
    WHERE ($1 = {tier.NETWORK} OR r.affiliate_id = $1) AND r.bucket >= $2 AND r.bucket < $3
      AND r.clicks + r.bot_clicks > 0
      AND NOT {tier.HAS_PARTITION.format(day="(r.bucket AT TIME ZONE 'UTC')::date")})
"""


# The span of the tier's whole days within [$2, $3) and the clicks it holds for
# affiliate $1 (the reader checks them against its confirmed days).
SPANS = """
SELECT s.first_day, s.end_day,
       coalesce((SELECT c.clicks FROM stats_subids_span_counted c
                 WHERE c.first_day = s.first_day AND c.affiliate_id = $1), 0) AS clicks
FROM stats_subids_spans s WHERE s.first_day >= $2 AND s.end_day <= $3
ORDER BY s.end_day - s.first_day DESC
"""


def _spans(
    report: Report, sealed: list[tuple[date, datetime]]
) -> tuple[list[date], list[tuple[datetime, datetime]]]:
    """The days the tier answers for, and the spans left to the raw clicks."""
    days, covered = [], []
    for day, until in sealed:
        start = tier.day_start(day)
        if report.start <= start < until <= report.end:
            days.append(day)
            covered.append((start, until))
    rest, at = [], report.start
    for start, until in sorted(covered):
        if at < start:
            rest.append((at, start))
        at = until
    if at < report.end:
        rest.append((at, report.end))
    return days, rest


def _span_days(first: date, end: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((end - first).days)]


def _usable_span(
    spans: list[Any], days: list[date], whole: set[date], counted: dict[date, int]
) -> date | None:
    """The first of `spans` whose days are all among the report's tier days, sealed whole,
    and whose count is their confirmed counts' sum (a day sealed again since the span was
    built counts more); None if none is."""
    for span in spans:
        inside = _span_days(span["first_day"], span["end_day"])
        if (
            all(d in whole and d in days for d in inside)
            and sum(counted[d] for d in inside) == span["clicks"]
        ):
            first: date = span["first_day"]
            return first
    return None


def _statement(
    report: Report,
    span: date | None,
    days: list[date],
    rest: list[tuple[datetime, datetime]],
    k: int,
) -> tuple[str, list[Any]]:
    """The top rows, and the bound and completeness that tell whether they are exact.

    The lists are the span's (list 0), each day's outside it (1, 2, ...) and the raw
    rest's (-1). A list of fewer than K rows is read whole: its rows are its sums; only
    the lists cut at K are probed for the candidates."""
    params = Params()
    (dimension,) = report.group_by
    key = f"d_{dimension}"
    affiliate = params.add(_affiliate(report))
    dim = params.add(vocabulary.SUB_DIMENSIONS.index(dimension))
    day_list = params.add(days)
    span_day = params.add(span)
    limit_k = params.add(k)
    raw_leaves = [queries.click_leaf(report, params, start, end, "") for start, end in rest]
    raw = (
        "\nUNION ALL\n".join(raw_leaves)
        if raw_leaves
        else f"SELECT ''::text AS {key}, ''::text AS currency, 0::bigint AS clicks,"
        " 0::bigint AS unique_clicks, 0::bigint AS bot_clicks WHERE false"
    )
    conversions = queries.conversion_leaf(report, params, "")
    conversions_of_best = queries.conversion_leaf(report, params, "")
    counts = "clicks, unique_clicks, bot_clicks"
    t_counts = "t.clicks, t.unique_clicks, t.bot_clicks"
    order = f"clicks DESC NULLS LAST, {key} ASC NULLS FIRST, currency"
    limit = params.add(report.limit)
    metrics = ", ".join(f"coalesce({m}, 0) AS {m}" for m in registry.METRICS)
    # Complete lists (few values: their rows may reach groups without clicks) join the
    # conversions of every group, as the raw statement does; else the N rows all have
    # more clicks than the bound or are not proven (a larger K reads again), so they are
    # click groups, and their conversions are read alone. One arm runs: the other's
    # one-time filter is false.
    final = f"""r AS (
    (SELECT {key}, currency, {metrics}
     FROM clicks FULL JOIN (
{conversions}
     ) v USING ({key}, currency)
     WHERE (SELECT complete FROM bound)
     ORDER BY {order} LIMIT {limit})
    UNION ALL
    (SELECT {key}, currency, {metrics}
     FROM best LEFT JOIN (
        SELECT * FROM (
{conversions_of_best}
        ) v0 WHERE v0.{key} = ANY(ARRAY(SELECT {key} FROM best))
     ) v USING ({key}, currency)
     WHERE NOT (SELECT complete FROM bound))
)"""
    mine = f"t.affiliate_id = {affiliate} AND t.dimension = {dim}"
    probe = "t.value_key = sha256(convert_to(c.value, 'UTF8')) AND t.currency = c.currency"
    sql = f"""WITH top AS (
    SELECT 0 AS list, x.* FROM (
        SELECT t.value, t.currency, {t_counts} FROM {tier.SPAN} t
        WHERE t.first_day = {span_day}::date AND {mine}
        ORDER BY t.clicks DESC LIMIT {limit_k}
    ) x
    UNION ALL
    SELECT d.list, x.*
    FROM unnest({day_list}::date[]) WITH ORDINALITY d (day, list)
    CROSS JOIN LATERAL (
        SELECT t.value, t.currency, {t_counts} FROM {tier.TIER} t
        WHERE {mine} AND t.day = d.day
        ORDER BY t.clicks DESC LIMIT {limit_k}
    ) x
), raw AS MATERIALIZED (
    SELECT {key} AS value, currency::text AS currency, sum(clicks) AS clicks,
           sum(unique_clicks) AS unique_clicks, sum(bot_clicks) AS bot_clicks
    FROM (
{raw}
    ) r GROUP BY 1, 2
), raw_top AS (
    SELECT value, currency, clicks FROM raw ORDER BY clicks DESC LIMIT {limit_k}
), lists AS (
    SELECT list, count(*) AS n, min(clicks) AS kth FROM top GROUP BY list
    UNION ALL
    SELECT -1, count(*), coalesce(min(clicks), 0) FROM raw_top
), bound AS (
    SELECT coalesce(sum(kth) FILTER (WHERE n >= {limit_k}), 0)::bigint AS bound,
           bool_and(n < {limit_k}) AS complete
    FROM lists
), cut AS (
    -- The lists cut at K, which the candidates are probed in.
    SELECT coalesce(bool_or(list = 0), false) AS span,
           coalesce(array_agg(d.day) FILTER (WHERE d.day IS NOT NULL), '{{}}') AS days
    FROM lists l LEFT JOIN unnest({day_list}::date[]) WITH ORDINALITY d (day, list) USING (list)
    WHERE l.n >= {limit_k} AND l.list >= 0
), candidates AS (
    SELECT value, currency FROM top UNION SELECT value, currency FROM raw_top
), clicks AS (
    SELECT s.value AS {key}, s.currency, sum(s.clicks)::bigint AS clicks,
           sum(s.unique_clicks)::bigint AS unique_clicks,
           sum(s.bot_clicks)::bigint AS bot_clicks
    FROM (
        SELECT t.value, t.currency, {t_counts}
        FROM top t JOIN lists l USING (list) WHERE l.n < {limit_k}
        UNION ALL
        -- An index probe per candidate, whatever the tier's statistics say (OFFSET 0
        -- keeps the planner from turning them into a scan of the affiliate's rows).
        SELECT c.value, c.currency, {t_counts}
        FROM candidates c CROSS JOIN LATERAL (
            SELECT {counts} FROM {tier.SPAN} t
            WHERE t.first_day = {span_day}::date AND {mine} AND {probe}
            OFFSET 0
        ) t
        WHERE (SELECT span FROM cut)
        UNION ALL
        SELECT c.value, c.currency, {t_counts}
        FROM candidates c CROSS JOIN LATERAL (
            SELECT {counts} FROM {tier.TIER} t
            WHERE t.day = ANY((SELECT days FROM cut)::date[]) AND {mine} AND {probe}
            OFFSET 0
        ) t
        UNION ALL
        SELECT r.value, r.currency, r.clicks, r.unique_clicks, r.bot_clicks
        FROM raw r JOIN candidates c USING (value, currency)
    ) s
    GROUP BY 1, 2
), best AS (SELECT * FROM clicks ORDER BY {order} LIMIT {limit}
), {final}
SELECT r.*, false AS is_total, {", ".join(queries.derived("r"))}, b.bound, b.complete
FROM r CROSS JOIN bound b
ORDER BY {order}"""
    return sql, params.values


def _whole_statement(
    report: Report, span: date | None, days: list[date], rest: list[tuple[datetime, datetime]]
) -> tuple[str, list[Any]]:
    """The top rows from every row of every list (no bound, no probes): the raw
    statement with the tier's rows in place of the sealed days' clicks."""
    params = Params()
    (dimension,) = report.group_by
    key = f"d_{dimension}"
    mine = (
        f"t.affiliate_id = {params.add(_affiliate(report))}"
        f" AND t.dimension = {params.add(vocabulary.SUB_DIMENSIONS.index(dimension))}"
    )
    counts = "clicks, unique_clicks, bot_clicks"
    leaves = [
        f"SELECT t.value, t.currency, {counts} FROM {tier.SPAN} t"
        f" WHERE t.first_day = {params.add(span)}::date AND {mine}",
        f"SELECT t.value, t.currency, {counts} FROM {tier.TIER} t"
        f" WHERE t.day = ANY({params.add(days)}::date[]) AND {mine}",
        *(
            f"SELECT {key}, currency::text, {counts} FROM (\n"
            f"{queries.click_leaf(report, params, start, end, '')}\n) k"
            for start, end in rest
        ),
    ]
    union = "\nUNION ALL\n".join(leaves)
    sums = ", ".join(f"sum({m})::bigint AS {m}" for m in counts.split(", "))
    metrics = ", ".join(f"coalesce({m}, 0) AS {m}" for m in registry.METRICS)
    order = f"clicks DESC NULLS LAST, {key} ASC NULLS FIRST, currency"
    sql = f"""WITH clicks AS (
    SELECT value AS {key}, currency, {sums} FROM (
{union}
    ) u GROUP BY 1, 2
), r AS (
    SELECT {key}, currency, {metrics}
    FROM clicks FULL JOIN (
{queries.conversion_leaf(report, params, "")}
    ) v USING ({key}, currency)
    ORDER BY {order} LIMIT {params.add(report.limit)}
)
SELECT r.*, false AS is_total, {", ".join(queries.derived("r"))}, 0::bigint AS bound,
       true AS complete
FROM r
ORDER BY {order}"""
    return sql, params.values


# K of a read that takes every row of every list (no bound, no probes).
WHOLE_K = 1 << 40


def _probes_cost_more(k: int, lists: int, probed: int, rows: int) -> bool:
    """Whether probing the candidates of a K costs more than reading every row of the
    tier's lists: up to K candidates from each of `lists` lists, each probed in the
    `probed` tier lists, a probe about PROBE_COST rows read (the lists hold at most
    `rows`, their clicks). An affiliate with a few thousand clicks a day has nearly every
    sub-ID once: its bound stays above its N-th row, and K would grow to thousands of
    candidates for what its lists read whole answer at once."""
    return k * lists * probed * PROBE_COST > rows


def _affiliate(report: Report) -> int:
    """The tier's affiliate of a report: its one affiliate, or NETWORK without a filter."""
    return report.filters["affiliate"][0] if report.filters else tier.NETWORK


async def read(conn: Connection, plan: Plan) -> list[dict[str, Any]] | None:
    """The report's rows and totals (as queries.build gives them), or None when the tier
    cannot answer it. Run inside one repeatable-read transaction, so that the seals, the
    tier, the raw clicks and the rollups are read from one snapshot."""
    report = plan.report
    if plan.totals_reads is None or report.limit is None:
        return None
    first_day = report.start.date()
    affiliate = _affiliate(report)
    if await conn.fetchval(LOST_DAYS, affiliate, tier.day_start(first_day), report.end):
        return None
    sealed = await conn.fetch(
        CONFIRMED_DAYS,
        affiliate,
        first_day,
        report.end.date() + timedelta(days=1),
    )
    days, rest = _spans(report, [(r["day"], r["sealed_until"]) for r in sealed])
    counted = {r["day"]: r["clicks"] for r in sealed}
    rows = sum(counted[d] for d in days)  # the tier rows its lists may hold, at most
    whole = {r["day"] for r in sealed if r["sealed_until"] == tier.day_start(r["day"]) + tier.DAY}
    span = None
    if days:
        spans = await conn.fetch(SPANS, affiliate, min(days), max(days) + timedelta(days=1))
        span = _usable_span(spans, days, whole, counted)
        if span is not None:
            end = next(s["end_day"] for s in spans if s["first_day"] == span)
            days = [d for d in days if not span <= d < end]
    probed = len(days) + (span is not None)
    k = first_k(report.limit)
    while k <= MAX_K and not _probes_cost_more(k, probed + 1, probed, rows):
        if (answer := await _try(conn, plan, span, days, rest, k)) is not None:
            return answer
        k *= GROWTH
    return await _try(conn, plan, span, days, rest, WHOLE_K)


async def _try(
    conn: Connection,
    plan: Plan,
    span: date | None,
    days: list[date],
    rest: list[tuple[datetime, datetime]],
    k: int,
) -> list[dict[str, Any]] | None:
    """The report's rows and totals read with this K, or None when they are not proven
    exact (a larger K may)."""
    report = plan.report
    assert plan.totals_reads is not None
    assert report.limit is not None
    if k >= WHOLE_K:
        sql, args = _whole_statement(report, span, days, rest)
    else:
        sql, args = _statement(report, span, days, rest, k)
    rows = await conn.fetch(sql, *args)
    if rows and not (
        rows[0]["complete"] or (len(rows) == report.limit and rows[-1]["clicks"] > rows[0]["bound"])
    ):
        return None
    totals_sql, totals_args = queries.build(
        replace(report, group_by=(), sort=(), limit=None), plan.totals_reads, totals=False
    )
    totals = await conn.fetch(totals_sql, *totals_args)
    return [
        *({n: v for n, v in r.items() if n not in ("bound", "complete")} for r in rows),
        *({**dict(r), f"d_{report.group_by[0]}": None, "is_total": True} for r in totals),
    ]
