"""p50/p95 of the portal's pages, server side, over the data set of load_stats.py.

    .venv/bin/python -m loadtests.load_stats --dsn postgresql://postgres@127.0.0.1:5432/tracker_stats_bench
    .venv/bin/python -m loadtests.bench_portal --dsn postgresql://postgres@127.0.0.1:5432/tracker_stats_bench

The app runs in this process (its lifespan, PostgreSQL and Redis as configured) and each
page is asked for through httpx's ASGI transport by a signed-in owner, manager (ten
affiliates, the busiest among them) or affiliate user (the busiest and the median
affiliate): the time is the whole request in the app (session lookup, the services'
reads, the template), without a socket. The first run seeds what the pages show besides
clicks and conversions (loadtests/seed_portal.py: ledger, customers, payouts, deliveries,
webhooks, users...); the users are made once (the same e-mails on a rerun). Every page of
app/portal is asked for (`--only TEXT`: those whose path holds TEXT); the output is the
Markdown table of RESULTS.md. `--seal` first seals the sub-ID tier's latest days, as the
worker's hourly upkeep keeps it (the tables by sub-ID read it).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import secrets
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from app.accounts import users
from app.accounts.schemas import UserIn
from app.db import Pool
from app.main import create_app
from app.rollups import subids
from app.settings import Settings
from app.state import AppState
from loadtests import seed_portal

PASSWORD = "bench-portal-password-1"
DATA_KEY = base64.urlsafe_b64encode(b"bench-portal-data-key-32-bytes!!").decode()
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def _user(pool: Pool, email: str, role: str, affiliate_id: int | None = None) -> None:
    async with pool.acquire() as conn:
        found = await users.find_by_email(conn, email=email)
        if found is None:
            body = UserIn(email=email, role=role, affiliate_id=affiliate_id)  # type: ignore[arg-type]
            found = (await users.create_user(conn, body=body, actor="bench")).id
        await users.set_password(conn, user_id=found, password=PASSWORD, actor="bench")


async def _signed_in(client: httpx.AsyncClient, email: str) -> None:
    page = await client.get("/")
    match = _CSRF.search(page.text)
    assert match, "no CSRF token on the sign-in page"
    answer = await client.post(
        "/", data={"csrf_token": match.group(1), "email": email, "password": PASSWORD}
    )
    assert answer.status_code == 303, answer.text


async def _time(client: httpx.AsyncClient, path: str, runs: int) -> tuple[float, ...]:
    """p50 and p95 of the wall time, the median of this process's CPU time (the app's
    Python: less disturbed by the other processes of a shared machine; PostgreSQL's share
    is in the wall time only), and the size of the answer."""
    for _ in range(3):  # warm-up
        assert (await client.get(path)).status_code == 200, path
    times, cpu, size = [], [], 0
    for _ in range(runs):
        started, used = time.perf_counter(), time.process_time()
        response = await client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - used) * 1000)
        assert response.status_code == 200, (path, response.status_code)
        size = len(response.content)
    times.sort()
    p95 = times[max(0, round(0.95 * len(times)) - 1)]
    return statistics.median(times), p95, statistics.median(cpu), size


async def _ids(pool: Pool, top: int, median: int) -> dict[str, Any]:
    """The rows the pages of one record show: the busiest ones where there is a choice."""
    one = pool.fetchval
    return {
        "top": top,
        "median": median,
        "offer": await one(
            "SELECT offer_id FROM stats_rollup_daily GROUP BY 1 ORDER BY sum(clicks) DESC LIMIT 1"
        ),
        "link": await one(
            "SELECT link_id FROM stats_rollup_daily WHERE affiliate_id = $1"
            " GROUP BY 1 ORDER BY sum(clicks) DESC LIMIT 1",
            top,
        ),
        "median_link": await one("SELECT min(id) FROM links WHERE affiliate_id = $1", median),
        "conversion": await one("SELECT max(id) FROM conversions WHERE affiliate_id = $1", top),
        "customer": await one(
            "SELECT customer_id FROM conversions WHERE affiliate_id = $1"
            " AND customer_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
            top,
        ),
        "payout": await one("SELECT max(id) FROM payouts WHERE affiliate_id = $1", top),
        "median_payout": await one("SELECT max(id) FROM payouts WHERE affiliate_id = $1", median),
        # An entry half way through the busiest affiliate's latest payout: a later page of it.
        "payout_middle": await one(
            "SELECT entry_ids[cardinality(entry_ids) / 2 + 1] FROM payouts"
            " WHERE id = (SELECT max(id) FROM payouts WHERE affiliate_id = $1)",
            top,
        ),
        "run": await one("SELECT max(id) FROM payout_runs"),
        "integration": await one("SELECT min(id) FROM integrations"),
        "announcement": await one("SELECT max(id) FROM announcements"),
        "up_to": (datetime.now(UTC) - timedelta(days=1)).date().isoformat(),
    }


# (who, path, what): who is owner, manager, top (the busiest affiliate's user) or median.
STAFF_PAGES = [
    ("/manage", "overview"),
    ("/manage?affiliate={top}", "overview, busiest affiliate"),
    ("/manage/stats", "stats (default: 7 days by day)"),
    ("/manage/stats?preset=today", "stats today"),
    ("/manage/stats?preset=30d&compare=1", "stats 30 days, compared"),
    ("/manage/stats?preset=mtd&tz=Asia/Kolkata", "stats month to date, Kolkata"),
    ("/manage/stats?preset=last_month&tz=America/New_York", "stats last month, New York"),
    ("/manage/stats?preset=30d&group_by=affiliate", "stats 30 days by affiliate"),
    ("/manage/stats?preset=30d&group_by=offer&group_by=country", "stats by offer x country"),
    ("/manage/stats?preset=7d&group_by=sub1&affiliate={top}", "stats 7 days by sub1, busiest"),
    ("/manage/stats?preset=7d&group_by=sub1", "stats 7 days by sub1, all affiliates"),
    ("/manage/stats.csv?preset=30d&group_by=offer", "stats CSV 30 days by offer"),
    ("/manage/offers", "offers"),
    ("/manage/offers/{offer}", "offer form, busiest offer"),
    ("/manage/affiliates", "affiliates"),
    ("/manage/affiliates?status=applied", "applications queue"),
    ("/manage/affiliates/{top}", "affiliate profile, busiest"),
    ("/manage/links", "links"),
    ("/manage/links?affiliate={top}", "links of the busiest"),
    ("/manage/links/{link}", "link generator, busiest link"),
    ("/manage/conversions", "conversions log"),
    ("/manage/conversions?status=approved&affiliate={top}", "conversions approved, busiest"),
    ("/manage/conversions?status=pending", "conversions pending"),
    ("/manage/conversions/{conversion}", "one conversion"),
    ("/manage/customers", "customers"),
    ("/manage/customers?affiliate={top}", "customers of the busiest"),
    ("/manage/customers/{customer}", "customer timeline (most conversions)"),
    ("/manage/payouts", "payouts and balances"),
    ("/manage/payouts/{payout}", "one payout, busiest"),
    ("/manage/payouts/{payout}?after={payout_middle}", "one payout, busiest, a later page"),
    ("/manage/webhooks", "webhooks"),
    ("/manage/deliveries", "deliveries"),
    ("/manage/deliveries?kind=webhook", "deliveries, webhooks"),
    ("/manage/deliveries?status=failed", "deliveries, failed"),
    ("/manage/deliveries?affiliate={top}", "deliveries of the busiest"),
    ("/account", "account"),
]
OWNER_PAGES = [
    ("/manage/offers/new", "new offer form"),
    ("/manage/payouts?preview=1&currency=USD&up_to={up_to}", "payout run preview, USD"),
    ("/manage/payouts?run={run}", "payouts of a run with its files"),
    ("/manage/payouts/runs/{run}/export?format=csv", "run export CSV"),
    ("/api/v1/payouts/{payout}/statement.pdf", "statement PDF of the busiest (its link)"),
    ("/manage/integrations", "integrations"),
    ("/manage/integrations/{integration}", "one integration"),
    ("/manage/keys", "API keys"),
    ("/manage/users", "users"),
]
PARTNER_PAGES = [
    ("/partner", "overview"),
    ("/partner/offers", "offers"),
    ("/partner/links", "links"),
    ("/partner/links/{link_of}", "link generator"),
    ("/partner/stats", "stats (default)"),
    ("/partner/stats?preset=today", "stats today"),
    ("/partner/stats?preset=30d&group_by=offer", "stats 30 days by offer"),
    ("/partner/stats?preset=mtd&group_by=country&tz=Asia/Kolkata", "stats mtd by country, Kolkata"),
    ("/partner/stats?preset=7d&group_by=sub1", "stats 7 days by sub1"),
    ("/partner/stats.csv?preset=30d&group_by=day", "stats CSV 30 days by day"),
    ("/partner/conversions", "conversions"),
    ("/partner/conversions?status=approved", "conversions approved"),
    ("/partner/balance", "balance, payouts, ledger"),
    ("/partner/payouts/{payout_of}/statement.pdf", "statement PDF"),
    ("/partner/settings", "settings"),
    ("/partner/announcements", "announcements"),
    ("/partner/announcements/{announcement}", "one announcement"),
]


def _pages(ids: dict[str, Any], extra: list[str]) -> list[tuple[str, str, str]]:
    out = []
    for who in ("owner", "manager"):
        out += [(who, p.format(**ids), n) for p, n in STAFF_PAGES]
    out += [("owner", p.format(**ids), n) for p, n in OWNER_PAGES]
    for who in ("top", "median"):
        mine = {**ids, "link_of": ids["link" if who == "top" else "median_link"]}
        mine["payout_of"] = ids["payout" if who == "top" else "median_payout"]
        out += [(who, p.format(**mine), n) for p, n in PARTNER_PAGES]
    out += [(who, path, path) for who, _, path in (s.partition(":") for s in extra)]
    return [page for page in out if "None" not in page[1]]  # a row the data set lacks


async def main(args: argparse.Namespace) -> None:
    key = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="bench-portal-") as tmp:
        settings = Settings(
            database_url=args.dsn,
            redis_url=args.redis,
            admin_api_key=key,
            tracker_data_dir=Path(tmp),
            migrate_on_start=True,
            data_key=DATA_KEY,  # the same on every run: the seeded secrets stay readable
            program_address="1 Bench Street, Testville",  # announcements need one
            apply_rate_per_hour=0,  # the seed's applicants come from one address
        )
        app = create_app(settings)
        async with LifespanManager(app):
            pool = AppState.of(app).pool
            busiest = await pool.fetch(
                "SELECT affiliate_id FROM stats_rollup_daily GROUP BY 1 ORDER BY sum(clicks) DESC"
            )
            top = busiest[0]["affiliate_id"]
            median = busiest[len(busiest) // 2]["affiliate_id"]
            transport = httpx.ASGITransport(app=app)
            admin = {"Authorization": f"Bearer {key}"}
            async with httpx.AsyncClient(
                transport=transport, base_url="http://bench.test", headers=admin, timeout=600
            ) as api:
                await seed_portal.seed(pool, api, top, lambda what: print(what, flush=True))
            for who, role, affiliate in (
                ("owner", "owner", None),
                ("manager", "manager", None),
                ("top", "affiliate", top),
                ("median", "affiliate", median),
            ):
                await _user(pool, f"{who}@bench.example", role, affiliate)
            if args.seal:
                # As the worker's hourly upkeep does (app/rollups/subids.py).
                started = time.perf_counter()
                now = datetime.fromisoformat(args.seal_now) if args.seal_now else None
                sealed = await subids.seal(pool, now, days=args.seal_days)
                print(f"sealed {len(sealed)} days in {time.perf_counter() - started:.1f}s")
            ids = await _ids(pool, top, median)
            pages = [p for p in _pages(ids, args.pages) if not args.only or args.only in p[1]]
            print(f"load average {os.getloadavg()}; top {top}, median {median}")
            print(
                "| who | page | path | p50 ms | p95 ms | CPU ms | bytes |\n"
                "|---|---|---|---:|---:|---:|---:|"
            )
            for who, path, name in pages:
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://bench.test"
                ) as client:
                    await _signed_in(client, f"{who}@bench.example")
                    p50, p95, cpu, size = await _time(client, path, args.runs)
                print(
                    f"| {who} | {name} | `{path}` | {p50:.1f} | {p95:.1f} | {cpu:.1f} | {size:,} |",
                    flush=True,
                )
            print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/tracker_stats_bench")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/5")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--page", dest="pages", action="append", default=[], help="who:/path")
    parser.add_argument("--only", help="only the pages whose path holds this")
    parser.add_argument("--seal", action="store_true", help="seal the sub-ID tier first")
    parser.add_argument("--seal-days", type=int, default=8, help="the latest N days (--seal)")
    # load_stats spreads today's clicks over all its hours, future ones too: sealing at
    # today's 22:15 leaves the 2 hours an hourly upkeep leaves unsealed in steady state.
    parser.add_argument("--seal-now", help="the instant to seal at (ISO; default now)")
    asyncio.run(main(parser.parse_args()))
