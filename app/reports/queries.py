"""SQL for the reports. Only names from the whitelists of app/reports/request.py are
spliced in; every value (periods, range, filters, offer) is a bound parameter."""

from __future__ import annotations

from typing import Any

from app.stats.queries import Params

# A customer's binding, as the cohorts group and filter it ('' for "none").
CUSTOMER_COLUMNS = {
    "affiliate": "c.affiliate_id",
    "offer": "c.offer_id",
    "link": "c.link_id",
    **{f"sub{i}": f"coalesce(c.sub{i}, '')" for i in range(1, 6)},
    "source": "coalesce(c.source, '')",
    "country": "coalesce(c.country::text, '')",
}
_ID_GROUPS = frozenset({"affiliate", "offer", "link"})

_VALUES = {
    "revenue": "sum(v.revenue)",
    "payout": "sum(v.payout)",
    "conversions": "count(*)",
    "customers": "count(DISTINCT v.customer_id)",
}


def cohorts(
    *,
    bounds: list[Any],
    start: Any,
    end: Any,
    metric: str,
    group_by: str | None,
    filters: dict[str, list[Any]],
    conversions_of: int | None,
) -> tuple[str, list[Any]]:
    """Rows (cohort, g, size, age, currency, value): each cohort (1-based period of its
    customers' first conversion, by `bounds`: the period starts then the range's end)
    and group with its size, and the metric of their approved conversions by age. A
    cohort whose customers have no approved conversion yet comes once, age NULL.

    A customer's first conversion is the conversion customers.first_conversion_id names,
    at its created_at, as /stats counts it in new_customers; money is per currency,
    counts over all of them (currency NULL). `conversions_of`: only conversions credited
    to this affiliate (an affiliate key)."""
    params = Params()
    b, s, e = params.add(bounds), params.add(start), params.add(end)
    group = CUSTOMER_COLUMNS[group_by] if group_by else "NULL::text"
    conditions = []
    for name, values in filters.items():
        kind = "bigint" if name in _ID_GROUPS else "text"
        conditions.append(f"{CUSTOMER_COLUMNS[name]} = ANY({params.add(values)}::{kind}[])")
    credited = f" AND v.affiliate_id = {params.add(conversions_of)}" if conversions_of else ""
    currency = "v.currency::text" if metric in ("revenue", "payout") else "NULL::text"
    where = "".join(f"\n  AND {c}" for c in conditions)
    # A customer's first conversion is the one conversion of it that is not recurring
    # (attribution marks it so as it makes the customer); the binding is read only to
    # group or filter by it.
    binding = (
        "\nJOIN customers c ON c.id = f.customer_id AND c.first_conversion_id = f.id"
        if group_by or filters
        else ""
    )
    sql = f"""WITH first AS MATERIALIZED (
SELECT f.customer_id AS id, width_bucket(f.created_at, {b}::timestamptz[]) AS cohort,
       {group} AS g
FROM conversions f{binding}
WHERE f.customer_id IS NOT NULL AND NOT f.recurring
  AND f.created_at >= {s} AND f.created_at < {e}{where}
), sizes AS (
SELECT cohort, g, count(*) AS size FROM first GROUP BY 1, 2
), cells AS (
SELECT k.cohort, k.g, width_bucket(v.created_at, {b}::timestamptz[]) - k.cohort AS age,
       {currency} AS currency, {_VALUES[metric]} AS value
FROM first k JOIN conversions v ON v.customer_id = k.id
WHERE v.customer_id IS NOT NULL AND v.status = 'approved'
  AND v.created_at >= {s} AND v.created_at < {e}{credited}
GROUP BY 1, 2, 3, 4
)
SELECT s.cohort, s.g, s.size, c.age, c.currency, c.value
FROM sizes s LEFT JOIN cells c ON c.cohort = s.cohort AND c.g IS NOT DISTINCT FROM s.g
ORDER BY s.cohort, s.g, c.currency NULLS FIRST, c.age"""
    return sql, params.values
