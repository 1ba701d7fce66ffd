from app.pagination import page_sql

COLUMNS = """id, advertiser_id, name, url, fallback_url, status, currency,
attribution_window_hours, main_goal, main_goal_multiple, revenue_type, revenue_value,
payout_type, payout_value, allow_payout_param, pixel_policy, pixel_status, max_amount,
attribution_model, lifetime_days, recurring_payout_type, recurring_payout_value,
recurring_limit, hold_days, targeting_countries, targeting_country_mode, targeting_devices,
created_at, updated_at"""

INSERT = f"""
INSERT INTO offers (advertiser_id, name, url, fallback_url, status, currency,
    attribution_window_hours, main_goal, main_goal_multiple, revenue_type, revenue_value,
    payout_type, payout_value, allow_payout_param, pixel_policy, pixel_status, max_amount,
    attribution_model, lifetime_days, recurring_payout_type, recurring_payout_value,
    recurring_limit, hold_days, targeting_countries, targeting_country_mode, targeting_devices)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
    $20, $21, $22, $23, $24, $25, $26)
RETURNING {COLUMNS}
"""
GET = f"SELECT {COLUMNS} FROM offers WHERE id = $1"
GET_FOR_UPDATE = f"SELECT {COLUMNS} FROM offers WHERE id = $1 FOR UPDATE"
LIST = page_sql(f"SELECT {COLUMNS} FROM offers", "advertiser_id = bigint, status = text")
STATUS = "SELECT status FROM offers WHERE id = $1"
GOALS = """
SELECT offer_id, name, revenue_type, revenue_value, payout_type, payout_value, allow_multiple
FROM offer_goals WHERE offer_id = ANY($1::bigint[]) ORDER BY offer_id, name
"""
OVERRIDES = """
SELECT offer_id, affiliate_id, payout_type, payout_value, recurring_type, recurring_value
FROM offer_payout_overrides WHERE offer_id = ANY($1::bigint[]) ORDER BY offer_id, affiliate_id
"""
CAPS = """
SELECT offer_id, metric, period, cap_limit, affiliate_id
FROM offer_caps WHERE offer_id = ANY($1::bigint[]) ORDER BY offer_id, id
"""
DELETE_GOALS = "DELETE FROM offer_goals WHERE offer_id = $1"
DELETE_OVERRIDES = "DELETE FROM offer_payout_overrides WHERE offer_id = $1"
DELETE_CAPS = "DELETE FROM offer_caps WHERE offer_id = $1"
INSERT_GOALS = """
INSERT INTO offer_goals (offer_id, name, revenue_type, revenue_value, payout_type,
    payout_value, allow_multiple)
SELECT $1, * FROM unnest($2::text[], $3::text[], $4::numeric[], $5::text[], $6::numeric[],
    $7::boolean[])
"""
INSERT_OVERRIDES = """
INSERT INTO offer_payout_overrides (offer_id, affiliate_id, payout_type, payout_value,
    recurring_type, recurring_value)
SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::numeric[], $5::text[], $6::numeric[])
"""
INSERT_CAPS = """
INSERT INTO offer_caps (offer_id, metric, period, cap_limit, affiliate_id)
SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[])
"""
HAS_LINKS = "SELECT EXISTS (SELECT 1 FROM links WHERE offer_id = $1)"
ARCHIVE = "UPDATE offers SET status = 'archived', updated_at = now() WHERE id = $1"
DELETE = "DELETE FROM offers WHERE id = $1"
TOUCH = "UPDATE offers SET updated_at = now() WHERE id = $1"
