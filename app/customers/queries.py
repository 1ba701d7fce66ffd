"""SQL of customers: the worker's batched statements and the customers API."""

from app.macros import SUB_IDS
from app.pagination import page_sql

_SUBS = ", ".join(SUB_IDS)

BINDING = f"""affiliate_id, offer_id, link_id, click_id, clicked_at, {_SUBS}, source, country"""
COLUMNS = f"""id, advertiser_id, external_id, {BINDING}, first_conversion_id,
first_conversion_at, created_at, updated_at, erased_at"""

# --- the worker ------------------------------------------------------------------

FIND = f"""
SELECT {COLUMNS} FROM customers
WHERE (advertiser_id, external_id) IN (SELECT * FROM unnest($1::bigint[], $2::text[]))
"""
# Customers named by their ID: records whose external ID was erased while they waited.
GET_MANY = f"SELECT {COLUMNS} FROM customers WHERE id = ANY($1::bigint[])"
# IDs for the customers a batch may create, taken before their first conversions exist.
RESERVE_IDS = """
SELECT nextval(pg_get_serial_sequence('customers', 'id')) FROM generate_series(1, $1)
"""
TERMS = """
SELECT id, attribution_model, lifetime_days, recurring_payout_type, recurring_payout_value,
       recurring_limit
FROM offers WHERE id = ANY($1::bigint[])
"""
RECURRING_OVERRIDES = """
SELECT offer_id, affiliate_id, recurring_type, recurring_value FROM offer_payout_overrides
WHERE offer_id = ANY($1::bigint[]) AND affiliate_id = ANY($2::bigint[])
  AND recurring_type IS NOT NULL
"""
# An affiliate's link on an offer (an active one first) for credit without a click.
LINKS = """
SELECT DISTINCT ON (affiliate_id, offer_id) affiliate_id, offer_id, id FROM links
WHERE (affiliate_id, offer_id) IN (SELECT * FROM unnest($1::bigint[], $2::bigint[]))
ORDER BY affiliate_id, offer_id, (status = 'active') DESC, id
"""
# The conversions in force for these (advertiser, txid): their records change them
# rather than make new ones, so they bind no customer.
MAIN_GOALS = "SELECT id, main_goal FROM offers WHERE id = ANY($1::bigint[])"
EXISTING_TXIDS = """
SELECT advertiser_id, txid FROM conversions
WHERE (advertiser_id, txid) IN (SELECT * FROM unnest($1::bigint[], $2::text[]))
"""
# How many recurring conversions each (customer, offer) has numbered so far: an index
# probe per customer (the aggregate keeps the planner from making it a join over a scan of
# all conversions, which stale statistics of a fast-growing table would favour).
RECURRING_SEQ = """
SELECT k.customer_id, c.offer_id, c.seq
FROM unnest($1::bigint[]) AS k(customer_id)
CROSS JOIN LATERAL (
    SELECT offer_id, max(recurring_seq) AS seq FROM conversions
    WHERE customer_id = k.customer_id AND recurring_seq IS NOT NULL
    GROUP BY offer_id
) c
"""
INSERT = f"""
INSERT INTO customers (id, advertiser_id, external_id, {BINDING}, first_conversion_id,
    first_conversion_at)
SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[],
    $6::bigint[], $7::uuid[], $8::timestamptz[], $9::text[], $10::text[], $11::text[],
    $12::text[], $13::text[], $14::text[], $15::text[], $16::bigint[], $17::timestamptz[])
RETURNING id, advertiser_id, affiliate_id, offer_id, first_conversion_id, created_at
"""
REBIND = f"""
UPDATE customers c SET ({BINDING}, updated_at) = (u.affiliate_id, u.offer_id, u.link_id,
    u.click_id, u.clicked_at, {", ".join("u." + s for s in SUB_IDS)}, u.source, u.country, now())
FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::uuid[],
    $6::timestamptz[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
    $12::text[], $13::text[])
    AS u(id, affiliate_id, offer_id, link_id, click_id, clicked_at, {_SUBS}, source, country)
WHERE c.id = u.id
"""
INSERT_EVENTS = """
INSERT INTO customer_events (customer_id, kind, affiliate_id, previous_affiliate_id,
    conversion_id, changed_by, reason, at)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[],
    $6::text[], $7::text[], $8::timestamptz[])
"""

# --- the API ---------------------------------------------------------------------

LIST = page_sql(
    f"SELECT {COLUMNS} FROM customers",
    """affiliate_id in bigint[], offer_id = bigint, advertiser_id = bigint,
    first_conversion_at >= timestamptz, first_conversion_at < timestamptz, external_id = text""",
)
GET = f"SELECT {COLUMNS} FROM customers WHERE id = $1"
# Lifetime totals of approved conversions per currency ($2: only one affiliate's).
TOTALS = """
SELECT currency, count(*) AS conversions, sum(revenue) AS revenue, sum(payout) AS payout
FROM conversions
WHERE customer_id = $1 AND status = 'approved' AND ($2::bigint IS NULL OR affiliate_id = $2)
GROUP BY currency ORDER BY currency
"""
CONVERSIONS = """
SELECT id, affiliate_id, offer_id, goal, status, revenue, payout, currency, recurring,
       click_id, clicked_at,
       attributed_via, via, received_at, created_at
FROM conversions
WHERE customer_id = $1 AND ($2::bigint IS NULL OR affiliate_id = $2)
ORDER BY id
"""
STATUS_CHANGES = """
SELECT h.conversion_id, h.old_status, h.new_status, h.changed_by, h.changed_at
FROM conversion_history h JOIN conversions c ON c.id = h.conversion_id
WHERE c.customer_id = $1 AND ($2::bigint IS NULL OR c.affiliate_id = $2)
  AND h.old_status IS NOT NULL
ORDER BY h.id
"""
EVENTS = """
SELECT kind, affiliate_id, previous_affiliate_id, conversion_id, changed_by, reason, at
FROM customer_events WHERE customer_id = $1 ORDER BY id
"""
FOR_UPDATE = f"SELECT {COLUMNS} FROM customers WHERE id = $1 FOR UPDATE"
REASSIGN = f"""
UPDATE customers SET affiliate_id = $2, link_id = $3, click_id = NULL, clicked_at = NULL,
    {", ".join(s + " = NULL" for s in SUB_IDS)}, source = NULL, updated_at = now()
WHERE id = $1
"""
LINK_OF = """
SELECT id FROM links WHERE affiliate_id = $1 AND offer_id = $2
ORDER BY (status = 'active') DESC, id LIMIT 1
"""
EXTERNAL_IDS = "SELECT id, external_id FROM customers WHERE id = ANY($1::bigint[])"
