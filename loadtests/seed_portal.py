"""What the portal's pages show besides clicks and conversions, seeded once over the data
set of load_stats.py, so that every page of bench_portal.py has realistic rows to read.

In SQL (the bulk): a commission in the ledger for every approved or pending conversion
(at the conversion's time, the offer's hold), customers (every fourth conversion makes
one; every fourth other conversion is a recurring one of an earlier customer of its
link), then the rollups' customer metrics and the cohort rollup recounted, and a postback
delivery (with its try) for every conversion. Through the API (its own rules, with an
admin key): a manager with ten affiliates (the busiest among them), a user for every
affiliate, payment details, a payout run per currency (half of its payouts paid),
webhooks with test deliveries, CRM integrations, announcements, keys and applicants.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from app.attribution.rollup import recount_customer_metrics
from app.db import Pool
from app.rollups import cohorts

COMMISSIONS = """
INSERT INTO ledger_entries (affiliate_id, currency, kind, amount, conversion_id, hold_days,
    created_by, created_at)
SELECT v.affiliate_id, v.currency, 'commission', v.payout, v.id, o.hold_days, 'bench',
       v.created_at
FROM conversions v JOIN offers o ON o.id = v.offer_id
WHERE v.status IN ('approved', 'pending') AND v.payout > 0
ORDER BY v.id
"""
CUSTOMERS = """
INSERT INTO customers (advertiser_id, external_id, affiliate_id, offer_id, link_id, click_id,
    clicked_at, sub1, sub2, source, country, first_conversion_id, first_conversion_at)
SELECT advertiser_id, 'buyer-' || id, affiliate_id, offer_id, link_id, click_id, clicked_at,
       sub1, sub2, source, country, id, created_at
FROM conversions WHERE id % 4 = 0 ORDER BY id
"""
FIRSTS = """
UPDATE conversions v SET customer_id = c.id, recurring = false, attributed_via = 'click'
FROM customers c WHERE v.id = c.first_conversion_id
"""
RECURRING = """
UPDATE conversions v SET customer_id = r.id, recurring = true, attributed_via = 'customer'
FROM (
    SELECT v.id AS conversion_id, (
        SELECT c.id FROM customers c
        WHERE c.link_id = v.link_id AND c.first_conversion_at < v.created_at
        ORDER BY c.first_conversion_at DESC LIMIT 1) AS id
    FROM conversions v WHERE v.id % 4 = 1 AND v.customer_id IS NULL
) r
WHERE v.id = r.conversion_id AND r.id IS NOT NULL
"""
DELIVERIES = """
INSERT INTO deliveries (conversion_id, affiliate_id, conversion_status, method, url, status,
    attempts, next_attempt_at, last_error, created_at, delivered_at)
SELECT id, affiliate_id, status, 'GET',
       'https://postback.example.com/pb?cid=' || coalesce(click_id::text, '') || '&s=' || status,
       CASE WHEN id % 40 = 0 THEN 'failed' ELSE 'delivered' END,
       CASE WHEN id % 40 = 0 THEN 8 ELSE 1 END, created_at,
       CASE WHEN id % 40 = 0 THEN 'HTTP 502' END, created_at,
       CASE WHEN id % 40 = 0 THEN NULL ELSE created_at + interval '200 ms' END
FROM conversions ORDER BY id
"""
ATTEMPTS = """
INSERT INTO delivery_attempts (delivery_id, attempted_at, status_code, error, latency_ms,
    response_snippet)
SELECT id, created_at, CASE WHEN status = 'failed' THEN 502 ELSE 200 END, last_error,
       40 + id % 160, CASE WHEN status = 'failed' THEN 'Bad Gateway' ELSE 'OK' END
FROM deliveries ORDER BY id
"""


async def _bulk(pool: Pool, say: Any) -> None:
    """Each part once: a rerun after a failure does what is left."""
    async with pool.acquire() as conn:
        count = conn.fetchval
        if not await count("SELECT count(*) FROM ledger_entries"):
            await conn.execute("UPDATE offers SET hold_days = 7")  # a run has money to take
            await conn.execute(COMMISSIONS)
            say("ledger commissions")
        if not await count("SELECT count(*) FROM conversions WHERE status_at IS NOT NULL"):
            # Decided when made (the hold counts from then), not when the load stored them.
            await conn.execute("UPDATE conversions SET status_at = created_at")
            say("conversions decided when made")
        if not await count("SELECT count(*) FROM customers"):
            async with conn.transaction():
                await conn.execute(CUSTOMERS)
                await conn.execute(FIRSTS)
                await conn.execute(
                    "CREATE INDEX bench_customers_link ON customers (link_id, first_conversion_at)"
                )
                await conn.execute(RECURRING)
                await conn.execute("DROP INDEX bench_customers_link")
            say("customers")
        # Planned on fresh statistics: the recount's self-join is quadratic on stale ones.
        await conn.execute("ANALYZE conversions")
        await conn.execute("ANALYZE customers")
        if not await count("SELECT count(*) FROM customer_cohort_sizes"):
            await recount_customer_metrics(conn)
            async with conn.transaction():
                await cohorts.rebuild(conn)
            say("customer metrics and cohort rollup")
        if not await count("SELECT count(*) FROM deliveries"):
            async with conn.transaction():
                await conn.execute(DELIVERIES)
                await conn.execute(ATTEMPTS)
            say("postback deliveries")
        await conn.execute("ANALYZE")


async def _ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, (response.request.url, response.text)
    return response.json()


async def _people(api: httpx.AsyncClient, pool: Pool, top: int, say: Any) -> None:
    affiliates = [r["id"] for r in await pool.fetch("SELECT id FROM affiliates ORDER BY id")]
    manager = await _ok(
        await api.post(
            "/api/v1/users",
            json={"email": "manager@bench.example", "name": "Manager", "role": "manager"},
        )
    )
    managed = [top, *[a for a in affiliates if a != top][:9]]
    for affiliate in managed:
        await _ok(
            await api.patch(
                f"/api/v1/affiliates/{affiliate}", json={"manager_id": manager["key_id"]}
            )
        )
    for affiliate in affiliates:
        email = f"partner{affiliate}@bench.example"
        body = {"email": email, "role": "affiliate", "affiliate_id": affiliate}
        await _ok(await api.post("/api/v1/users", json=body))
        payment = {"method": "paypal", "email": f"pay{affiliate}@bench.example"}
        await _ok(await api.put(f"/api/v1/affiliates/{affiliate}/payment", json=payment))
    say("manager, users, payment details")


async def _payouts(api: httpx.AsyncClient, pool: Pool, say: Any) -> None:
    up_to = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    for row in await pool.fetch("SELECT DISTINCT currency FROM ledger_entries ORDER BY 1"):
        run = await _ok(
            await api.post("/api/v1/payout-runs", json={"currency": row[0], "up_to": up_to})
        )
        payouts = await pool.fetch(
            "SELECT id FROM payouts WHERE run_id = $1 ORDER BY id", run["id"]
        )
        for payout in payouts[::2]:
            await _ok(
                await api.post(
                    f"/api/v1/payouts/{payout['id']}/paid", json={"reference": f"PP-{payout['id']}"}
                )
            )
    say("payout runs")


async def _program(api: httpx.AsyncClient, pool: Pool, top: int, say: Any) -> None:
    affiliates = [r["id"] for r in await pool.fetch("SELECT id FROM affiliates ORDER BY id")]
    managed = await pool.fetch(
        "SELECT id FROM affiliates WHERE manager_id IS NOT NULL AND id <> $1 ORDER BY id", top
    )
    events = ["conversion.created", "conversion.updated"]
    for owner in (None, None, top, managed[0]["id"]):
        body = {"url": "https://hooks.example.com/tracker", "events": events}
        hook = await _ok(await api.post("/api/v1/webhooks", json={**body, "affiliate_id": owner}))
        for _ in range(5):
            await _ok(await api.post(f"/api/v1/webhooks/{hook['id']}/test"))
    advertiser = await pool.fetchval("SELECT min(id) FROM advertisers")
    for provider in ("salesforce", "zoho", "salesforce"):
        crm: dict[str, Any] = {
            "provider": provider,
            "advertiser_id": advertiser,
            "name": f"{provider} CRM",
            "stage_map": {"Closed Won": "approved", "Closed Lost": "rejected"},
        }
        await _ok(await api.post("/api/v1/integrations", json=crm))
    for n in range(12):
        body = {
            "subject": f"News {n + 1}",
            "body": f"# Update {n + 1}\n\nNew **payouts** on offer {n}.",
            "audience": "all",
        }
        await _ok(await api.post("/api/v1/announcements", json=body))
    for n in range(10):
        key = {"role": "admin", "name": f"machine {n}"}
        if n % 2:
            key = {"role": "affiliate", "affiliate_id": affiliates[n], "name": f"partner {n}"}
        await _ok(await api.post("/api/v1/keys", json=key))
    for n in range(30):
        body = {"name": f"Applicant {n + 1}", "email": f"applicant{n + 1}@bench.example"}
        await _ok(await api.post("/apply", json={**body, "website": "https://a.example.com"}))
    say("webhooks, integrations, announcements, keys, applicants")


async def seed(pool: Pool, api: httpx.AsyncClient, top: int, say: Any) -> None:
    """Seed once: each part a data set already has is left as it is."""
    await _bulk(pool, say)
    if not await pool.fetchval("SELECT count(*) FROM users WHERE role = 'manager'"):
        await _people(api, pool, top, say)
    if not await pool.fetchval("SELECT count(*) FROM payout_runs"):
        await _payouts(api, pool, say)
    if not await pool.fetchval("SELECT count(*) FROM webhooks"):
        await _program(api, pool, top, say)
