"""The SQL of partner management: history, notes, applications, groups and evaluation."""

from app.pagination import page_sql

SEALED_PAYMENT_SAMPLE = """
SELECT id, payment_encrypted FROM affiliates WHERE payment_encrypted IS NOT NULL LIMIT 1
"""

# --- history and lifecycle -----------------------------------------------------------

HISTORY_COLUMNS = """id, affiliate_id, kind, from_value AS "from", to_value AS "to", actor_role,
actor_key_id, reason, created_at"""
INSERT_HISTORY = """
INSERT INTO affiliate_history (affiliate_id, kind, from_value, to_value, actor_role,
    actor_key_id, reason)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],
    $6::bigint[], $7::text[])
"""
LIST_HISTORY = f"""
SELECT {HISTORY_COLUMNS} FROM affiliate_history
WHERE affiliate_id = $1 AND id > $2 ORDER BY id LIMIT $3
"""
LOCK_STATUS = "SELECT status FROM affiliates WHERE id = $1 FOR UPDATE"
SET_STATUS = "UPDATE affiliates SET status = $2, updated_at = now() WHERE id = $1"
# An admin key, not revoked: who may manage affiliates.
IS_ADMIN_KEY = "SELECT EXISTS (SELECT 1 FROM api_keys WHERE id = $1 AND role = 'admin')"
GROUP_EXISTS = "SELECT EXISTS (SELECT 1 FROM commission_groups WHERE id = $1)"

# --- applications --------------------------------------------------------------------

# Applications for one address are serialised, so two at once cannot both create it.
LOCK_EMAIL = "SELECT pg_advisory_xact_lock(hashtextextended(lower($1::text), 14))"
EMAIL_TAKEN = "SELECT EXISTS (SELECT 1 FROM affiliates WHERE lower(email) = lower($1))"
INSERT_APPLICANT = """
INSERT INTO affiliates (name, email, website, status, application)
VALUES ($1, $2, $3, 'applied', $4)
RETURNING id
"""

# --- payment and notes ---------------------------------------------------------------

SET_PAYMENT = """
UPDATE affiliates SET payment_encrypted = $2, payment_masked = $3, updated_at = now()
WHERE id = $1 RETURNING id
"""
PAYMENT_DETAILS = """
SELECT id, payment_encrypted FROM affiliates
WHERE id = ANY($1::bigint[]) AND payment_encrypted IS NOT NULL
"""
NOTE_COLUMNS = "id, affiliate_id, author_key_id, text, created_at"
INSERT_NOTE = f"""
INSERT INTO affiliate_notes (affiliate_id, author_key_id, text)
SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM affiliates WHERE id = $1)
RETURNING {NOTE_COLUMNS}
"""
LIST_NOTES = f"""
SELECT {NOTE_COLUMNS} FROM affiliate_notes WHERE affiliate_id = $1 AND id > $2
ORDER BY id LIMIT $3
"""
AFFILIATE_EXISTS = "SELECT EXISTS (SELECT 1 FROM affiliates WHERE id = $1)"

# --- commission groups ---------------------------------------------------------------

GROUP_COLUMNS = """id, name, rank, default_type, default_value, promotion_metric,
promotion_window_days, promotion_min, promotion_currency, promotion_demote, created_at,
updated_at"""
INSERT_GROUP = f"""
INSERT INTO commission_groups (name, rank, default_type, default_value, promotion_metric,
    promotion_window_days, promotion_min, promotion_currency, promotion_demote)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING {GROUP_COLUMNS}
"""
GET_GROUP = f"SELECT {GROUP_COLUMNS} FROM commission_groups WHERE id = $1"
LIST_GROUPS = page_sql(f"SELECT {GROUP_COLUMNS} FROM commission_groups")
ALL_GROUPS = f"SELECT {GROUP_COLUMNS} FROM commission_groups ORDER BY rank DESC"
GROUP_RULES = """
SELECT group_id, offer_id, payout_type, payout_value FROM group_payout_rules
WHERE group_id = ANY($1::bigint[]) ORDER BY group_id, offer_id
"""
DELETE_GROUP_RULES = "DELETE FROM group_payout_rules WHERE group_id = $1"
INSERT_GROUP_RULES = """
INSERT INTO group_payout_rules (group_id, offer_id, payout_type, payout_value)
SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::numeric[])
"""
UPDATE_GROUP = """
UPDATE commission_groups SET name = $2, rank = $3, default_type = $4, default_value = $5,
    promotion_metric = $6, promotion_window_days = $7, promotion_min = $8,
    promotion_currency = $9, promotion_demote = $10, updated_at = now()
WHERE id = $1
"""
EXISTING_OFFERS = "SELECT id FROM offers WHERE id = ANY($1::bigint[])"
GROUP_IN_USE = "SELECT EXISTS (SELECT 1 FROM affiliates WHERE group_id = $1)"
DELETE_GROUP = "DELETE FROM commission_groups WHERE id = $1 RETURNING id"

# --- group evaluation ----------------------------------------------------------------

# Affiliates that evaluation may move: the active ones (the others' terms wait for them).
EVALUATED_AFFILIATES = """
SELECT id, group_id FROM affiliates WHERE status = 'active' ORDER BY id FOR UPDATE
"""
# Per affiliate, over the daily rollups from $1 (a UTC day) on: clicks, approved
# conversions, and revenue and payout in currency $2.
AFFILIATE_METRICS = """
SELECT affiliate_id,
       sum(clicks) AS clicks,
       sum(conversions) AS approved_conversions,
       coalesce(sum(revenue) FILTER (WHERE currency = $2), 0) AS revenue,
       coalesce(sum(payout) FILTER (WHERE currency = $2), 0) AS payout
FROM stats_rollup_daily_links
WHERE bucket >= $1
GROUP BY affiliate_id
"""
SET_GROUP = "UPDATE affiliates SET group_id = $2, updated_at = now() WHERE id = $1"

# The names webhook events carry (app/partners/events.py): affiliates', then groups'.
EVENT_NAMES = """
SELECT 'affiliate' AS kind, id, name FROM affiliates WHERE id = ANY($1::bigint[])
UNION ALL
SELECT 'group', id, name FROM commission_groups WHERE id = ANY($2::bigint[])
"""
