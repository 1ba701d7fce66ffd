"""Top sub-ID reports from the sub-ID tier (app/stats/subids.py) are the raw rows' exactly:
against the raw statement and a brute-force count, with seals at any hour, clicks stored
after their hour was sealed, conversions outside the clicks' range, zone edges, and
retention dropping a day's partition."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from app import worker
from app.clicks import retention
from app.clicks.store import COLUMNS, Click
from app.db import Pool
from app.keys.service import Principal
from app.rollups import subids as tier
from app.settings import Settings
from app.stats import service as stats_service
from app.stats import subids, vocabulary
from tests.helpers import create
from tests.stats import factory

ADMIN = Principal(role="admin")
DAY = timedelta(days=1)
# Each example has its own days (the seals are per day) and its own affiliate.
FIRST_WINDOW = datetime(2025, 3, 2, tzinfo=UTC)
WINDOW_DAYS = 3
VALUES = ["v00", "v01", "v02", "v03", "v04", "v05", "v06", "v07", "v08", "v09", None]
# Skewed: a few values carry most clicks, as sub-IDs do.
SKEWED = [0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 3, 3, *range(len(VALUES))]
_example = itertools.count()


@dataclass(frozen=True)
class Scenario:
    clicks: list[tuple[int, int, int, bool, bool, bool]]  # quarter, sub1, sub2, bot, eur, late
    seal_hour: int
    seal_again: bool
    dimension: str
    limit: int
    first_k: int
    range_quarters: tuple[int, int]  # start, length; or whole local days
    days: bool
    tz: str
    network: bool  # over every affiliate (no filter): the tier's network rows
    span_days: int  # the whole days the span sums (SPAN_DAYS)
    whole: bool  # the lists read whole (probes priced out) rather than cut at K


scenarios = st.builds(
    Scenario,
    clicks=st.lists(
        st.tuples(
            st.integers(0, WINDOW_DAYS * 96 - 1),
            st.sampled_from(SKEWED),
            st.integers(0, 3),
            st.booleans(),
            st.booleans(),
            st.sampled_from([False, False, False, True]),
        ),
        min_size=30,
        max_size=200,
    ),
    # Mostly after the window (every day sealed), else at any hour of it.
    seal_hour=st.one_of(st.just(WINDOW_DAYS * 24 + 1), st.integers(0, WINDOW_DAYS * 24 + 2)),
    seal_again=st.booleans(),
    dimension=st.sampled_from(["sub1", "sub2", "sub3", "source"]),
    limit=st.integers(1, 6),
    first_k=st.sampled_from([1, 2, 128]),
    range_quarters=st.tuples(st.integers(0, 96), st.integers(1, WINDOW_DAYS * 96)),
    # Whole local days mostly: the ranges that hold sealed days (and the span).
    days=st.sampled_from([True, True, False]),
    tz=st.sampled_from(["UTC", "UTC", "Asia/Kolkata", "America/New_York"]),
    network=st.booleans(),
    span_days=st.integers(1, WINDOW_DAYS),
    whole=st.booleans(),
)


async def _affiliate(client: httpx.AsyncClient, admin: dict[str, str], catalog: dict[str, Any]
                     ) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
    """A new affiliate with a USD link and a EUR link."""
    affiliate = await create(client, "affiliates", {"name": f"Subs {next(_example)}"}, admin)
    euro = await create(
        client,
        "offers",
        {
            "advertiser_id": catalog["advertiser"]["id"],
            "name": f"Euro {affiliate['id']}",
            "url": "https://shop.example/eu?cid={click_id}",
            "currency": "EUR",
            "revenue": {"type": "fixed", "value": "3.00"},
            "payout": {"type": "fixed", "value": "1.25"},
        },
        admin,
    )
    links = [
        await create(
            client, "links", {"affiliate_id": affiliate["id"], "offer_id": offer_id}, admin
        )
        for offer_id in (catalog["offer"]["id"], euro["id"])
    ]
    return links[0], links[1]


def _click(links: tuple[dict[str, Any], dict[str, Any]], at: datetime, spec: tuple[Any, ...]
           ) -> Click:  # fmt: skip
    _, sub1, sub2, bot, eur, _ = spec
    click = factory.click(
        links[eur],
        at,
        currency="EUR" if eur else "USD",
        sub1=VALUES[sub1],
        source=["fb", "google", None, "x"][sub2],
        is_bot=bot,
        is_unique=sub1 % 2 == 0,
    )
    click.row[COLUMNS.index("sub2")] = f"ad{sub2}" if sub2 else None
    return click


async def _both(pool: Pool, params: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The report through the tier (when it answers) and through the raw statement."""
    plan, _ = stats_service.plan({k: [v] for k, v in params.items()}, ADMIN)
    assert plan.totals_reads is not None
    tiered = await stats_service.report_json(pool, plan)
    raw = await stats_service.report_json(pool, replace(plan, totals_reads=None))
    return tiered, raw


async def _answers(pool: Pool, params: dict[str, str]) -> bool:
    """Whether the tier answered the report (rather than the raw statement)."""
    plan, _ = stats_service.plan({k: [v] for k, v in params.items()}, ADMIN)
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        return await subids.read(conn, plan) is not None


@pytest.mark.timeout(900)
@hypothesis_settings(
    max_examples=60,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    deadline=None,
)
@given(s=scenarios)
async def test_top_sub_ids_from_the_tier_match_the_raw_rows(
    s: Scenario,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    catalog: dict[str, Any],
    pool: Pool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(subids, "first_k", lambda limit: s.first_k)
    # Probes at any K whatever they cost (a few hundred clicks: reading the lists whole
    # would be cheaper), or none at all.
    monkeypatch.setattr(subids, "PROBE_COST", 10**9 if s.whole else 0)
    monkeypatch.setattr(tier, "SPAN_DAYS", s.span_days)
    monkeypatch.setattr(subids, "GROWTH", 2)
    links = await _affiliate(client, admin, catalog)
    # A report over the network also counts a second affiliate's clicks (every third).
    others = await _affiliate(client, admin, catalog) if s.network else links
    window = FIRST_WINDOW + timedelta(days=(WINDOW_DAYS + 2) * next(_example))
    early: list[Click] = []
    late: list[Click] = []
    for i, spec in enumerate(s.clicks):
        whose = others if i % 3 == 2 else links
        click = _click(whose, window + timedelta(minutes=15 * spec[0] + 7), spec)
        (late if spec[5] else early).append(click)
    await factory.store_clicks(pool, early)
    stored = await pool.fetch(
        "SELECT * FROM clicks WHERE affiliate_id = $1 AND NOT is_bot ORDER BY clicked_at",
        links[0]["affiliate_id"],
    )
    for i, row in enumerate(stored[:4]):
        await factory.add_conversion(
            pool,
            row,
            advertiser_id=catalog["advertiser"]["id"],
            currency=row["currency"].strip(),
            status=["approved", "pending", "approved", "rejected"][i],
            created_at=row["clicked_at"] + timedelta(hours=20 * i),
            revenue=Decimal("4.00"),
            payout=Decimal("1.2345"),
        )
    await tier.seal(pool, window + timedelta(hours=s.seal_hour, minutes=20))
    await factory.store_clicks(pool, late)
    if s.seal_again:
        await tier.seal(pool, window + timedelta(hours=WINDOW_DAYS * 24 + 1))

    params = {
        "group_by": s.dimension,
        "sort": "-clicks",
        "limit": str(s.limit),
        "tz": s.tz,
    }
    if s.days:
        first = window.date() + timedelta(days=s.range_quarters[0] % WINDOW_DAYS)
        last = first + timedelta(days=s.range_quarters[1] % WINDOW_DAYS)
        params.update({"from": first.isoformat(), "to": last.isoformat()})
        start, end = factory.day_range(first, last, s.tz)
    else:
        start = window + timedelta(minutes=15 * s.range_quarters[0])
        end = start + timedelta(minutes=15 * s.range_quarters[1])
        params.update({"from": start.isoformat(), "to": end.isoformat()})
    filters = {} if s.network else {"affiliate": [links[0]["affiliate_id"]]}
    if not s.network:
        params["affiliate"] = str(links[0]["affiliate_id"])
    tiered, raw = await _both(pool, params)
    assert tiered == raw, params

    expected = await factory.brute_force(
        pool,
        start=start,
        end=end,
        tz="UTC",
        group_by=[s.dimension],
        filters=filters,
    )
    for row in tiered["rows"]:
        key = (row[s.dimension], row["currency"])
        assert factory.api_groups({"rows": [row]}, [s.dimension])[key] == expected[key].metrics(
            admin=True
        )
    clicks = sorted((t.counts["clicks"] for t in expected.values()), reverse=True)
    assert [r["clicks"] for r in tiered["rows"]] == clicks[: s.limit]


async def test_sealed_days_are_read_from_the_tier_and_a_late_click_sends_its_day_back(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    catalog: dict[str, Any],
    pool: Pool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(subids, "PROBE_COST", 0)
    links = await _affiliate(client, admin, catalog)
    window = datetime(2025, 6, 10, tzinfo=UTC)
    specs = [(q, q % 7 % len(VALUES), q % 4, q % 9 == 0, q % 3 == 0, False) for q in range(288)]
    await factory.store_clicks(
        pool, [_click(links, window + timedelta(minutes=15 * q[0] + 1), q) for q in specs]
    )
    params = {
        "from": "2025-06-10",
        "to": "2025-06-12",
        "group_by": "sub1",
        "affiliate": str(links[0]["affiliate_id"]),
        "sort": "-clicks",
        "limit": "3",
    }
    await tier.seal(pool, window + timedelta(days=3))
    days = await _sealed_days(pool, links[0]["affiliate_id"], window.date())
    assert days == [date(2025, 6, 10), date(2025, 6, 11), date(2025, 6, 12)]
    assert await _answers(pool, params)
    tiered, raw = await _both(pool, params)
    assert tiered == raw

    # A click stored after its day was sealed: the day is read raw until sealed again.
    late = _click(links, window + timedelta(hours=30), (0, 1, 1, False, False, False))
    await factory.store_clicks(pool, [late])
    days = await _sealed_days(pool, links[0]["affiliate_id"], window.date())
    assert days == [date(2025, 6, 10), date(2025, 6, 12)]
    tiered, raw = await _both(pool, params)
    assert tiered == raw
    assert await tier.seal(pool, window + timedelta(days=3)) == [date(2025, 6, 11)]
    days = await _sealed_days(pool, links[0]["affiliate_id"], window.date())
    assert days == [date(2025, 6, 10), date(2025, 6, 11), date(2025, 6, 12)]
    tiered, raw = await _both(pool, params)
    assert tiered == raw

    # Retention drops the first day's partition: the tier forgets it with it.
    await retention.maintain_partitions(pool, today=date(2025, 6, 12), keep_days=1)
    assert not await pool.fetchval(
        f"SELECT count(*) FROM {tier.TIER} WHERE day < $1", date(2025, 6, 11)
    )
    days = await _sealed_days(pool, links[0]["affiliate_id"], window.date())
    assert days == [date(2025, 6, 11), date(2025, 6, 12)]
    tiered, raw = await _both(pool, params)
    assert tiered == raw


async def test_a_day_sealed_without_the_networks_rows_is_sealed_again_with_them(
    client: httpx.AsyncClient, admin: dict[str, str], catalog: dict[str, Any], pool: Pool
) -> None:
    """As a day sealed by the code before the network's rows: the network's report reads it
    raw (its count is not the rollups'), and the next upkeep seals it again, whole."""
    links = await _affiliate(client, admin, catalog)
    window = datetime(2025, 8, 4, tzinfo=UTC)
    specs = [(q, q % 5, q % 4, q % 11 == 0, q % 3 == 0, False) for q in range(96)]
    await factory.store_clicks(
        pool, [_click(links, window + timedelta(minutes=15 * q[0] + 2), q) for q in specs]
    )
    assert await tier.seal(pool, window + timedelta(days=2)) == [window.date()]
    assert await _sealed_days(pool, tier.NETWORK, window.date()) == [window.date()]
    for table in (tier.TIER, "stats_subids_counted"):
        await pool.execute(f"DELETE FROM {table} WHERE affiliate_id = $1", tier.NETWORK)
    assert await _sealed_days(pool, tier.NETWORK, window.date()) == []
    assert await _sealed_days(pool, links[0]["affiliate_id"], window.date()) == [window.date()]
    params = {"from": "2025-08-04", "to": "2025-08-04", "group_by": "sub1"}
    params.update({"sort": "-clicks", "limit": "2"})
    tiered, raw = await _both(pool, params)
    assert tiered == raw
    assert await tier.seal(pool, window + timedelta(days=2)) == [window.date()]
    assert await _sealed_days(pool, tier.NETWORK, window.date()) == [window.date()]
    network = await pool.fetchval(
        f"SELECT sum(clicks + bot_clicks) FROM {tier.TIER} WHERE affiliate_id = 0 AND day = $1"
        " AND dimension = 0",
        window.date(),
    )
    assert network == len(specs)
    tiered, raw = await _both(pool, params)
    assert tiered == raw


async def test_an_affiliate_with_few_clicks_is_read_whole_from_its_lists(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    catalog: dict[str, Any],
    pool: Pool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three sealed days of 96 clicks: probing K candidates on each day costs more than
    reading the days' 288 rows at most, so the lists are read whole (no bound, no probe)."""
    links = await _affiliate(client, admin, catalog)
    window = datetime(2025, 9, 1, tzinfo=UTC)
    specs = [(q, q % 9, q % 4, False, False, False) for q in range(288)]
    await factory.store_clicks(
        pool, [_click(links, window + timedelta(minutes=15 * q[0] + 3), q) for q in specs]
    )
    assert len(await tier.seal(pool, window + timedelta(days=4))) == 3
    params = {"from": "2025-09-01", "to": "2025-09-03", "group_by": "sub1", "limit": "3"}
    params.update({"sort": "-clicks", "affiliate": str(links[0]["affiliate_id"])})
    rows = await pool.fetch(subids.CONFIRMED_DAYS, links[0]["affiliate_id"], window.date(),
                            window.date() + timedelta(days=3))  # fmt: skip
    assert sum(r["clicks"] for r in rows) == 288
    assert subids._probes_cost_more(subids.first_k(3), 4, 3, 288)
    assert not subids._probes_cost_more(subids.first_k(3), 4, 3, 1_000_000)
    tried: list[int] = []
    real_try = subids._try

    async def spy(conn: Any, plan: Any, span: Any, days: Any, rest: Any, k: int) -> Any:
        tried.append(k)
        return await real_try(conn, plan, span, days, rest, k)

    monkeypatch.setattr(subids, "_try", spy)
    assert await _answers(pool, params)
    assert tried == [subids.WHOLE_K]
    tiered, raw = await _both(pool, params)
    assert tiered == raw


async def test_a_span_is_read_only_while_its_days_count_as_they_did(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    catalog: dict[str, Any],
    pool: Pool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The span sums the whole days before the sealing one; a click stored late in one of
    them makes the report read the days alone (once sealed again) until the span is built
    again; the next upkeep builds it, and retention forgets it."""
    monkeypatch.setattr(subids, "PROBE_COST", 0)
    monkeypatch.setattr(subids, "first_k", lambda limit: 1)
    monkeypatch.setattr(tier, "SPAN_DAYS", 3)
    links = await _affiliate(client, admin, catalog)
    affiliate = links[0]["affiliate_id"]
    window = datetime(2025, 10, 6, tzinfo=UTC)
    specs = [(q, q % 5 % len(VALUES), q % 4, q % 13 == 0, q % 3 == 0, False) for q in range(384)]
    await factory.store_clicks(
        pool, [_click(links, window + timedelta(minutes=15 * q[0] + 4), q) for q in specs]
    )
    params = {"from": "2025-10-06", "to": "2025-10-09", "group_by": "sub1", "limit": "2"}
    params.update({"sort": "-clicks", "affiliate": str(affiliate)})
    used: list[date | None] = []
    real_try = subids._try

    async def spy(conn: Any, plan: Any, span: Any, days: Any, rest: Any, k: int) -> Any:
        used.append(span)
        return await real_try(conn, plan, span, days, rest, k)

    monkeypatch.setattr(subids, "_try", spy)
    # Sealed on the 9th at 12:00: the span is the 6th to the 8th, the 9th a day's list.
    assert len(await tier.seal(pool, window + timedelta(days=3, hours=12, minutes=20))) == 4
    spans = await pool.fetch("SELECT first_day, end_day FROM stats_subids_spans")
    assert [tuple(r) for r in spans] == [(date(2025, 10, 6), date(2025, 10, 9))]
    span_clicks = await pool.fetchval(
        f"SELECT sum(clicks + bot_clicks) FROM {tier.SPAN} WHERE affiliate_id = $1"
        " AND dimension = 0",
        affiliate,
    )
    assert span_clicks == 288
    tiered, raw = await _both(pool, params)
    assert tiered == raw
    assert used[-1] == date(2025, 10, 6)

    # A late click on the 7th, its day sealed again but the span not built again yet.
    late = _click(links, window + timedelta(hours=30), (0, 1, 1, False, False, False))
    await factory.store_clicks(pool, [late])
    monkeypatch.setattr(tier, "roll_span", _no_span)
    await tier.seal(pool, window + timedelta(days=3, hours=12, minutes=20))
    assert len(await _sealed_days(pool, affiliate, window.date())) == 3
    used.clear()
    tiered, raw = await _both(pool, params)
    assert tiered == raw
    assert used
    assert set(used) == {None}
    monkeypatch.undo()
    monkeypatch.setattr(subids, "PROBE_COST", 0)
    monkeypatch.setattr(tier, "SPAN_DAYS", 3)
    assert await tier.seal(pool, window + timedelta(days=3, hours=12, minutes=20)) == []
    assert await pool.fetchval(
        "SELECT clicks FROM stats_subids_span_counted WHERE affiliate_id = $1", affiliate
    ) == 289  # fmt: skip
    tiered, raw = await _both(pool, params)
    assert tiered == raw

    # The next day: a new span, the old one gone; retention forgets a span it cuts into.
    assert len(await tier.seal(pool, window + timedelta(days=4, hours=1))) == 1
    spans = await pool.fetch("SELECT first_day, end_day FROM stats_subids_spans")
    assert [tuple(r) for r in spans] == [(date(2025, 10, 7), date(2025, 10, 10))]
    tiered, raw = await _both(pool, params)
    assert tiered == raw
    await retention.maintain_partitions(pool, today=date(2025, 10, 9), keep_days=1)
    for table in tier.SPAN_TABLES:
        assert not await pool.fetchval(f"SELECT count(*) FROM {table}")
    tiered, raw = await _both(pool, params)
    assert tiered == raw


async def _no_span(conn: Any, now: datetime) -> bool:
    return False


async def _sealed_days(pool: Pool, affiliate_id: int, first: date) -> list[date]:
    rows = await pool.fetch(subids.CONFIRMED_DAYS, affiliate_id, first, first + timedelta(days=3))
    return sorted(r["day"] for r in rows)


def test_only_top_n_by_clicks_of_one_affiliate_or_all_is_planned_for_the_tier() -> None:
    base = {"group_by": ["sub1"], "affiliate": ["1"], "sort": ["-clicks"], "limit": ["20"]}
    assert stats_service.plan(base, ADMIN)[0].totals_reads is not None
    # Over every affiliate (no filter at all): the network's rows.
    network = {k: v for k, v in base.items() if k != "affiliate"}
    assert stats_service.plan(network, ADMIN)[0].totals_reads is not None
    assert stats_service.plan({**network, "offer": ["3"]}, ADMIN)[0].totals_reads is None
    changes: list[dict[str, list[str]]] = [
        {"group_by": ["sub1,country"]},
        {"affiliate": ["1", "2"]},
        {"sort": ["-conversions"]},
        {"limit": []},
        {"offer": ["3"]},
        {"from": ["2025-01-01T00:00:10Z"], "to": ["2025-01-02"]},
    ]
    for change in changes:
        params = {k: v for k, v in {**base, **change}.items() if v}
        assert stats_service.plan(params, ADMIN)[0].totals_reads is None, change
    for dimension in vocabulary.SUB_DIMENSIONS:
        params = {**base, "group_by": [dimension]}
        assert stats_service.plan(params, ADMIN)[0].totals_reads is not None


async def test_the_worker_upkeep_seals_the_days_past(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    catalog: dict[str, Any],
    pool: Pool,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    links = await _affiliate(client, admin, catalog)
    yesterday = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - DAY
    spec = (0, 1, 1, False, False, False)
    await factory.store_clicks(pool, [_click(links, yesterday + timedelta(hours=3), spec)])
    stop = asyncio.Event()
    real_seal = tier.seal

    async def seal_once(pool: Pool, now: datetime | None = None) -> list[date]:
        stop.set()  # one upkeep round
        return await real_seal(pool, now)

    monkeypatch.setattr(worker, "UPKEEP_INTERVAL_S", 0.0)
    monkeypatch.setattr(tier, "seal", seal_once)
    await worker._upkeep(pool, settings, stop)
    days = await _sealed_days(pool, links[0]["affiliate_id"], yesterday.date())
    assert yesterday.date() in days
