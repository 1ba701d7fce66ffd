"""The cohort rollup (app/rollups/cohorts.py) against the raw rows: sequences of customers'
conversions at zone edges, with status changes, reassignments and erasures, read in zones
with 45- and 30-minute offsets and summer time, equal a brute-force count; and what the
writers added equals a recount from the conversions."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from app.attribution import service as attribution_service
from app.db import Pool
from app.reports import cohort_axes, cohort_rollup
from app.rollups import cohorts
from tests.reports import brute
from tests.stats import factory

ZONES = ["UTC", "Asia/Kathmandu", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
FIRST, LAST = "2025-10-27", "2025-11-04"
# A range holding whole UTC months and weeks, which the report reads from the coarse tier.
LONG_FIRST, LONG_LAST = "2025-09-29", "2025-12-02"
# Quarter hours before, at and after local midnights (Kathmandu, Kolkata, New York, Lord
# Howe), a month's end and New York's fall back, plus times anywhere in the range.
_EDGES = [
    datetime(2025, 11, 1, 18, 15, tzinfo=UTC),
    datetime(2025, 11, 1, 18, 30, tzinfo=UTC),
    datetime(2025, 11, 1, 4, 0, tzinfo=UTC),
    datetime(2025, 10, 31, 13, 0, tzinfo=UTC),
    datetime(2025, 11, 2, 5, 0, tzinfo=UTC),
    datetime(2025, 11, 3, 0, 0, tzinfo=UTC),
]
_START = datetime(2025, 10, 26, 12, tzinfo=UTC)
moments = st.one_of(
    st.builds(
        lambda edge, seconds: edge + timedelta(seconds=seconds),
        st.sampled_from(_EDGES),
        st.integers(-1200, 1200),
    ),
    st.builds(lambda s: _START + timedelta(seconds=s), st.integers(0, 10 * 86400)),
    st.builds(
        lambda s: datetime(2025, 9, 28, tzinfo=UTC) + timedelta(seconds=s),
        st.integers(0, 67 * 86400),
    ),
    st.builds(
        lambda edge, seconds: edge + timedelta(seconds=seconds),
        st.sampled_from(
            [datetime(2025, 9, 30, 18, 30, tzinfo=UTC), datetime(2025, 12, 1, 5, tzinfo=UTC)]
        ),
        st.integers(-1200, 1200),
    ),
)
# (customer number, when, status, euro?): a customer's first conversion is its first.
conversions = st.tuples(
    st.integers(0, 5), moments, st.sampled_from(["approved", "pending", "rejected"]), st.booleans()
)
actions = st.one_of(
    st.tuples(st.just("status"), st.integers(0, 40), st.sampled_from(["approved", "rejected"])),
    st.tuples(st.just("reassign"), st.integers(0, 5), st.just("")),
    st.tuples(st.just("erase"), st.integers(0, 5), st.just("")),
)
_example = itertools.count()
Case = tuple[
    list[tuple[int, datetime, str, bool]], list[tuple[str, int, str]], str, str, tuple[str, str]
]


async def _rollup_rows(pool: Pool) -> set[tuple[Any, ...]]:
    rows = await pool.fetch(
        "SELECT level, k1, k2, k3, k4, currency, conversions, revenue, payout"
        " FROM customer_cohorts WHERE conversions <> 0 OR revenue <> 0 OR payout <> 0"
    )
    sizes = await pool.fetch(
        "SELECT grain, bucket, customers FROM customer_cohort_sizes WHERE customers <> 0"
    )
    return {tuple(r) for r in rows} | {("size", *r) for r in sizes}


def _values(body: dict[str, Any]) -> tuple[dict[Any, Any], dict[Any, Any]]:
    sizes = {(c["cohort"], None): c["customers"] for c in body["cohorts"]}
    values = {(r["cohort"], None, r["age"], r["currency"]): r["value"] for r in body["rows"]}
    return sizes, values


@pytest.mark.timeout(900)
@hypothesis_settings(
    max_examples=12,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    deadline=None,
)
@given(
    case=st.tuples(
        st.lists(conversions, min_size=1, max_size=14),
        st.lists(actions, max_size=6),
        st.sampled_from(ZONES),
        st.sampled_from(["week", "month"]),
        st.sampled_from([(FIRST, LAST), (LONG_FIRST, LONG_LAST)]),
    )
)
async def test_the_rollup_equals_the_raw_rows(
    case: Case, client: httpx.AsyncClient, admin: dict[str, str], catalog: Any, pool: Pool
) -> None:
    made, changes, tz, period, (first_day, last_day) = case
    n = next(_example)
    link = catalog["alice_link"]
    customers: dict[int, int] = {}
    made_ids: list[int] = []
    for number, at, status, euro in made:
        stored = factory.click(link, at - timedelta(minutes=5), currency="USD")
        await factory.store_clicks(pool, [stored])
        record = await pool.fetchrow("SELECT * FROM clicks WHERE click_id = $1", stored.row[0])
        assert record is not None
        made_ids.append(
            await factory.add_conversion(
                pool,
                record,
                advertiser_id=catalog["advertiser"]["id"],
                currency="EUR" if euro else "USD",
                status=status,
                created_at=at,
                revenue=Decimal("3.10") if euro else Decimal("4.25"),
                payout=Decimal("1.05"),
                customer=customers.get(number),
                new_customer=number not in customers,
            )
        )
        if number not in customers:
            customers[number] = await pool.fetchval(
                "SELECT customer_id FROM conversions WHERE id = $1", made_ids[-1]
            )
    for kind, which, status in changes:
        if kind == "status":
            await attribution_service.change_status(
                pool, conversion_id=made_ids[which % len(made_ids)], status=status, changed_by="t"
            )
            continue
        customer = list(customers.values())[which % len(customers)]
        if kind == "reassign":
            body = {"affiliate_id": catalog["bob"]["id"], "reason": f"test {n}"}
            response = await client.patch(f"/api/v1/customers/{customer}", json=body, headers=admin)
        else:
            response = await client.delete(f"/api/v1/customers/{customer}", headers=admin)
        assert response.status_code in (200, 409), response.text  # 409: erased already

    start, end = factory.day_range(date.fromisoformat(first_day), date.fromisoformat(last_day), tz)
    for metric in ("revenue", "payout", "conversions"):
        params = {"from": first_day, "to": last_day, "tz": tz, "period": period, "metric": metric}
        response = await client.get("/api/v1/reports/cohorts", params=params, headers=admin)
        assert response.status_code == 200, response.text
        sizes, values = await brute.cohorts(
            pool, start=start, end=end, tz=tz, period=period, metric=metric, group_by=None
        )
        money = metric != "conversions"
        expected = {k: f"{v:.2f}" if money else int(v) for k, v in values.items()}
        got_sizes, got = _values(response.json())
        assert got_sizes == sizes, params
        assert {k: f"{Decimal(str(v)):.2f}" if money else v for k, v in got.items()} == expected
    # What the writers added is what a recount from the conversions makes.
    kept = await _rollup_rows(pool)
    async with pool.acquire() as conn, conn.transaction():
        await cohorts.rebuild(conn)
    assert await _rollup_rows(pool) == kept


def _counted(pieces: list[tuple[int, datetime, int, int]], moment: datetime) -> dict[int, int]:
    """The periods (with their signed counts) the pieces holding `moment` count it in."""
    counted: dict[int, int] = {}
    for grain, at, number, sign in pieces:
        if grain == cohorts.PIECE:
            inside = at <= moment < cohorts.piece_end(at)
        else:
            inside = at <= moment < at + timedelta(seconds=grain)
        if inside:
            counted[number] = counted.get(number, 0) + sign
    return {k: v for k, v in counted.items() if v}


@pytest.mark.parametrize("tz", [*ZONES, "Pacific/Auckland", "Pacific/Kiritimati"])
def test_each_instant_is_counted_once_in_its_period(tz: str) -> None:
    """The pieces of an axis, with their signs, count any instant once, in the period
    width_bucket gives it, and not at all outside the range."""
    from bisect import bisect_right
    from zoneinfo import ZoneInfo

    from app.reports.request import Range, bounds

    zone = ZoneInfo(tz)
    start, end = factory.day_range(date(2025, 1, 30), date(2025, 12, 31), tz)
    for period in ("week", "month"):
        edges = [*bounds("week" if period == "week" else "month", Range(start, end, zone)), end]
        days = cohort_axes.axis(edges)
        coarse, toward = cohort_axes.coarse_axis(edges)
        # The year's whole months (weeks) are read as their pieces, in every zone: most
        # days are inside a coarse piece, a UTC week cut at a month start is two.
        inside = sum(
            (cohorts.piece_end(at) - at).days
            for g, at in zip(coarse.grains, coarse.starts, strict=True)
            if g == cohorts.PIECE
        )
        assert inside >= 300, (period, inside)
        cut = [
            at
            for g, at in zip(coarse.grains, coarse.starts, strict=True)
            if g == cohorts.PIECE and at.day == 1 and at.weekday() != 0
        ]
        assert len(cut) >= 9, (period, cut)
        for axis in (days, coarse, toward, cohort_axes.coalesce(days)):
            pieces = list(zip(axis.grains, axis.starts, axis.periods, axis.signs, strict=True))
            half = timedelta(seconds=450)
            moments = {at + d for _, at, _, _ in pieces for d in (half, -half)}
            moments |= {start - half, start, end - half, end}
            for moment in sorted(moments):
                number = bisect_right(edges, moment)
                want = {number: 1} if 1 <= number < len(edges) else {}
                assert _counted(pieces, moment) == want, (period, moment)


def test_pieces_are_utc_weeks_cut_at_month_starts() -> None:
    """A UTC week that straddles a month start is two pieces, the first ending and the
    second starting at the month's start; a week inside a month, or starting on the 1st,
    is one; every UTC month and week is a union of pieces."""
    # 2025-10-27 (Monday) .. 2025-11-03: November starts on a Saturday.
    assert cohorts.piece_of(datetime(2025, 10, 31, 23, 59, tzinfo=UTC)) == datetime(
        2025, 10, 27, tzinfo=UTC
    )
    assert cohorts.piece_end(datetime(2025, 10, 27, tzinfo=UTC)) == datetime(
        2025, 11, 1, tzinfo=UTC
    )
    assert cohorts.piece_of(datetime(2025, 11, 1, tzinfo=UTC)) == datetime(2025, 11, 1, tzinfo=UTC)
    assert cohorts.piece_of(datetime(2025, 11, 2, 23, 59, 59, tzinfo=UTC)) == datetime(
        2025, 11, 1, tzinfo=UTC
    )
    assert cohorts.piece_end(datetime(2025, 11, 1, tzinfo=UTC)) == datetime(2025, 11, 3, tzinfo=UTC)
    # A one-day piece: 2025-08-31 is a Sunday after a Monday the 25th.
    assert cohorts.piece_of(datetime(2025, 8, 31, 12, tzinfo=UTC)) == datetime(
        2025, 8, 25, tzinfo=UTC
    )
    assert cohorts.piece_end(datetime(2025, 12, 29, tzinfo=UTC)) == datetime(2026, 1, 1, tzinfo=UTC)
    assert cohorts.piece_end(datetime(2026, 1, 1, tzinfo=UTC)) == datetime(2026, 1, 5, tzinfo=UTC)
    # 2025-09-01 is a Monday: its week is one piece.
    assert cohorts.piece_end(datetime(2025, 9, 1, tzinfo=UTC)) == datetime(2025, 9, 8, tzinfo=UTC)
    starts, at = [], datetime(2024, 12, 30, tzinfo=UTC)
    while at < datetime(2026, 2, 1, tzinfo=UTC):
        starts.append(at)
        assert cohorts.piece_of(at) == at
        assert cohorts.piece_of(cohorts.piece_end(at) - timedelta(microseconds=1)) == at
        at = cohorts.piece_end(at)
    for month in range(1, 13):
        assert datetime(2025, month, 1, tzinfo=UTC) in starts
    assert all((s - datetime(2024, 12, 30, tzinfo=UTC)).days % 7 == 0 or s.day == 1 for s in starts)
    weeks = [s for s in starts if s.weekday() == 0]
    assert len(weeks) == 57
    assert len(starts) - len(weeks) == 11  # 13 month starts, 2 of them on a Monday


async def test_piece_sql_matches_python(pool: Pool) -> None:
    moments = [
        datetime(2025, 3, 2, 23, 59, tzinfo=UTC),
        datetime(2025, 3, 3, 0, 0, tzinfo=UTC),
        datetime(2024, 12, 31, 23, 45, tzinfo=UTC),
        datetime(2025, 10, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2025, 11, 1, 0, 0, tzinfo=UTC),
        datetime(2025, 11, 2, 12, 0, tzinfo=UTC),
        datetime(2025, 11, 3, 0, 0, tzinfo=UTC),
    ]
    for at in moments:
        start = cohorts.piece_of(at)
        assert await pool.fetchval(f"SELECT {cohorts.piece_sql('$1::timestamptz')}", at) == start
        number = cohort_rollup.coarse_number(start)
        sql = cohort_rollup._coarse("$1::timestamptz").replace("$24", "$2")
        sql = sql.replace("$23", "$3")
        assert await pool.fetchval(f"SELECT {sql}", start, [7], number) == 7
        assert await pool.fetchval(f"SELECT {sql}", start, [0, 7], number - 1) == 7
    following = cohort_rollup.coarse_number(datetime(2025, 11, 1, tzinfo=UTC))
    assert following == cohort_rollup.coarse_number(datetime(2025, 10, 31, tzinfo=UTC)) + 1


async def test_coarsen_sets_the_coarse_levels_from_the_fine_ones(
    dataset: dict[str, Any], pool: Pool
) -> None:
    """What `coarsen` (migration 0072, `tracker stats coarsen-cohorts`) makes of the fine
    rows, slice by slice, is what the writers made: from nothing, over wrong rows, and
    over migration 0071's levels of months and weeks, which it drops."""
    kept = await _rollup_rows(pool)
    levels = {r[0] for r in kept}
    assert set(cohorts.COARSE_LEVELS) <= levels
    assert not levels & set(cohorts.MONTH_AND_WEEK_LEVELS)
    # A week of the data set straddles a month start (2025-10-27 .. 11-03): two pieces.
    pieces = {r[1] for r in kept if r[0] == cohorts.PP}
    assert datetime(2025, 11, 1, tzinfo=UTC) in pieces
    await pool.execute("DELETE FROM customer_cohorts WHERE level >= $1", cohorts.PP)
    async with pool.acquire() as conn:
        await cohorts.coarsen(conn)
    assert await _rollup_rows(pool) == kept
    await pool.execute(
        "UPDATE customer_cohorts SET conversions = conversions + 5 WHERE level >= $1", cohorts.PP
    )
    await pool.execute(
        "INSERT INTO customer_cohorts (level, k1, k2, k3, k4, currency, conversions)"
        " SELECT 6 + l % 14, k1, k2, k3, k4, currency, 3 FROM customer_cohorts"
        " CROSS JOIN generate_series(0, 13) l WHERE level = $1",
        cohorts.DD,
    )
    async with pool.acquire() as conn:
        await cohorts.coarsen(conn)
    assert await _rollup_rows(pool) == kept
