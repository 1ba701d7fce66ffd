"""SQL of attribution and the conversions API."""

from app.clicks import record as click_record
from app.macros import SUB_IDS
from app.pagination import page_sql
from app.rollups import registry

NOW = "SELECT now()"

# Each key is (click_id, clicked_at): the time in a UUIDv7 click ID picks the partition.
FIND_CLICKS = f"""
SELECT c.click_id, c.clicked_at, c.link_id, c.affiliate_id, c.offer_id,
       {", ".join("c." + s for s in SUB_IDS)}, c.source, c.aff_click_id,
       c.country, c.device, c.os, c.browser
FROM unnest($1::uuid[], $2::timestamptz[]) AS k(click_id, clicked_at)
JOIN clicks c ON c.click_id = k.click_id AND c.clicked_at = k.clicked_at
"""

# Whether the advertiser authenticates its postbacks beyond the token (decides `auto`
# pixel policies); the secret itself is not read.
OFFERS = """
SELECT o.id, o.advertiser_id, o.currency, o.attribution_window_hours, o.main_goal,
       o.main_goal_multiple, o.revenue_type, o.revenue_value, o.payout_type, o.payout_value,
       o.allow_payout_param, o.pixel_policy, o.pixel_status, o.max_amount,
       (a.signing_secret IS NOT NULL OR cardinality(a.ip_allowlist) > 0)
           AS advertiser_authenticates
FROM offers o JOIN advertisers a ON a.id = o.advertiser_id
WHERE o.id = ANY($1::bigint[])
"""
GOALS = """
SELECT offer_id, name, revenue_type, revenue_value, payout_type, payout_value, allow_multiple
FROM offer_goals WHERE offer_id = ANY($1::bigint[])
"""
OVERRIDES = """
SELECT offer_id, affiliate_id, payout_type, payout_value
FROM offer_payout_overrides WHERE offer_id = ANY($1::bigint[]) AND affiliate_id = ANY($2::bigint[])
"""
# The commission group terms of these affiliates: the group's default rule, and its rules
# for these offers (one row per rule, or one with a NULL offer when it has none of them).
GROUP_TERMS = """
SELECT a.id AS affiliate_id, g.default_type, g.default_value, r.offer_id, r.payout_type,
       r.payout_value
FROM affiliates a
JOIN commission_groups g ON g.id = a.group_id
LEFT JOIN group_payout_rules r ON r.group_id = g.id AND r.offer_id = ANY($2::bigint[])
WHERE a.id = ANY($1::bigint[])
"""
AFFILIATES = """
SELECT id, postback_url, postback_method, postback_on FROM affiliates WHERE id = ANY($1::bigint[])
"""

# Transaction-scoped advisory locks, taken in ascending order so that two workers never
# wait on each other in a cycle. Every writer of a conversion key takes its lock first.
LOCK_KEYS = """
SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT k FROM unnest($1::bigint[]) k ORDER BY k) s
"""

CONVERSION_COLUMNS = f"""id, advertiser_id, txid, click_id, clicked_at, link_id, affiliate_id,
offer_id, goal, status, reason, amount, amount_currency, currency, revenue, payout,
{", ".join(SUB_IDS)}, source, aff_click_id, country, device, os, browser, via,
received_at, status_at, created_at, updated_at, customer_id, recurring, attributed_via,
coupon_id, recurring_seq"""

EXISTING_BY_TXID = f"""
SELECT {CONVERSION_COLUMNS} FROM conversions
WHERE (advertiser_id, txid) IN (SELECT * FROM unnest($1::bigint[], $2::text[]))
FOR UPDATE
"""
# Conversions that already use up a one-per-click goal of these clicks.
CLICK_GOAL_TAKEN = """
SELECT click_id, goal FROM conversions
WHERE click_id = ANY($1::uuid[]) AND status IN ('approved', 'pending')
"""

# A conversion's money: the advertiser's amount (in its own currency), then the offer's.
MONEY_COLUMNS = ("amount", "amount_currency", "currency", "revenue", "payout")
INSERT_COLUMNS = (
    "advertiser_id",
    "txid",
    "click_id",
    "clicked_at",
    "link_id",
    "affiliate_id",
    "offer_id",
    "goal",
    "status",
    "reason",
    *MONEY_COLUMNS,
    *click_record.SUB_NAMES,
    "country",
    "device",
    "os",
    "browser",
    "via",
    "received_at",
    "status_at",
    # Customers and coupons (app/customers/attribution.py).
    "customer_id",
    "recurring",
    "attributed_via",
    "coupon_id",
    "recurring_seq",
)
_INSERT_TYPES = (
    "bigint[]",
    "text[]",
    "uuid[]",
    "timestamptz[]",
    "bigint[]",
    "bigint[]",
    "bigint[]",
    "text[]",
    "text[]",
    "text[]",
    "numeric[]",
    "text[]",
    "text[]",
    "numeric[]",
    "numeric[]",
    *(["text[]"] * len(click_record.SUB_NAMES)),
    "text[]",
    "text[]",
    "text[]",
    "text[]",
    "text[]",
    "timestamptz[]",
    "timestamptz[]",
    "bigint[]",
    "boolean[]",
    "text[]",
    "bigint[]",
    "integer[]",
)
INSERT_CONVERSIONS = f"""
INSERT INTO conversions ({", ".join(INSERT_COLUMNS)})
SELECT * FROM unnest({", ".join(f"${i}::{t}" for i, t in enumerate(_INSERT_TYPES, start=1))})
RETURNING {CONVERSION_COLUMNS}
"""

UPDATE_STATUSES = """
UPDATE conversions c SET status = u.status, reason = u.reason, status_at = u.status_at,
    updated_at = now()
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[])
    AS u(id, status, reason, status_at)
WHERE c.id = u.id
"""

# A pixel conversion superseded by the advertiser's postback keeps its row (and history)
# under a txid of its own, so the order's txid can name the postback's conversion.
FREE_TXIDS = """
UPDATE conversions SET txid = txid || ' (superseded by postback, #' || id || ')'
WHERE id = ANY($1::bigint[])
"""

INSERT_HISTORY = """
INSERT INTO conversion_history (conversion_id, old_status, new_status, changed_by)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[])
"""

# Deltas per rollup row (several conversions of a batch may share one); the rows are
# given in key order so that concurrent batches lock them in the same order.
UPSERT_ROLLUPS = registry.upsert_arrays(registry.CONVERSION_METRICS)

GET_CONVERSION = f"SELECT {CONVERSION_COLUMNS} FROM conversions WHERE id = $1"
# A conversion's status changes, oldest first: its creation (old_status NULL) included.
CONVERSION_HISTORY = """
SELECT old_status, new_status, changed_by, changed_at FROM conversion_history
WHERE conversion_id = $1 ORDER BY changed_at, id
"""
GET_CONVERSION_FOR_UPDATE = f"SELECT {CONVERSION_COLUMNS} FROM conversions WHERE id = $1 FOR UPDATE"

LIST_CONVERSIONS = page_sql(
    f"SELECT {CONVERSION_COLUMNS} FROM conversions",
    """created_at >= timestamptz, created_at < timestamptz,
    affiliate_id in bigint[], offer_id = bigint,
    status = text pending|approved|rejected|unattributed, goal = text""",
)

# The click an advertiser's order (txid) was credited to (CRM stage changes that carry no
# click ID: app/integrations).
CLICK_OF_TXID = """
SELECT click_id FROM conversions
WHERE advertiser_id = $1 AND txid = $2 AND click_id IS NOT NULL
"""
