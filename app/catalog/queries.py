"""SQL of the catalog. Column names in dynamic UPDATEs come from fixed whitelists only."""

# The signing secret never leaves the database through the API: only whether one is set.
ADVERTISER_COLUMNS = """id, name, status, postback_token, ip_allowlist,
signing_secret IS NOT NULL AS signing_secret_set, created_at, updated_at"""

INSERT_ADVERTISER = f"""
INSERT INTO advertisers (name, ip_allowlist, postback_token, signing_secret)
VALUES ($1, $2::cidr[], $3, $4)
RETURNING {ADVERTISER_COLUMNS}
"""
GET_ADVERTISER = f"SELECT {ADVERTISER_COLUMNS} FROM advertisers WHERE id = $1"
LIST_ADVERTISERS = f"""
SELECT {ADVERTISER_COLUMNS} FROM advertisers
WHERE id > $1 AND ($3::text IS NULL OR status = $3)
ORDER BY id LIMIT $2
"""
ROTATE_ADVERTISER_TOKEN = f"""
UPDATE advertisers SET postback_token = $2, updated_at = now() WHERE id = $1
RETURNING {ADVERTISER_COLUMNS}
"""
# Unattributed conversions name the advertiser without any offer.
ADVERTISER_IS_REFERENCED = """
SELECT EXISTS (SELECT 1 FROM offers WHERE advertiser_id = $1)
    OR EXISTS (SELECT 1 FROM conversions WHERE advertiser_id = $1)
"""
ARCHIVE_ADVERTISER = "UPDATE advertisers SET status = 'archived', updated_at = now() WHERE id = $1"
DELETE_ADVERTISER = "DELETE FROM advertisers WHERE id = $1"

OFFER_COLUMNS = """id, advertiser_id, name, url, fallback_url, status, currency,
attribution_window_hours, main_goal, main_goal_multiple, revenue_type, revenue_value,
payout_type, payout_value, allow_payout_param, pixel_policy, pixel_status, max_amount,
created_at, updated_at"""

INSERT_OFFER = f"""
INSERT INTO offers (advertiser_id, name, url, fallback_url, status, currency,
    attribution_window_hours, main_goal, main_goal_multiple, revenue_type, revenue_value,
    payout_type, payout_value, allow_payout_param, pixel_policy, pixel_status, max_amount)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
RETURNING {OFFER_COLUMNS}
"""
GET_OFFER = f"SELECT {OFFER_COLUMNS} FROM offers WHERE id = $1"
GET_OFFER_FOR_UPDATE = f"SELECT {OFFER_COLUMNS} FROM offers WHERE id = $1 FOR UPDATE"
LIST_OFFERS = f"""
SELECT {OFFER_COLUMNS} FROM offers
WHERE id > $1 AND ($3::bigint IS NULL OR advertiser_id = $3)
  AND ($4::text IS NULL OR status = $4)
ORDER BY id LIMIT $2
"""
OFFER_GOALS = """
SELECT offer_id, name, revenue_type, revenue_value, payout_type, payout_value, allow_multiple
FROM offer_goals WHERE offer_id = ANY($1::bigint[]) ORDER BY offer_id, name
"""
OFFER_OVERRIDES = """
SELECT offer_id, affiliate_id, payout_type, payout_value
FROM offer_payout_overrides WHERE offer_id = ANY($1::bigint[]) ORDER BY offer_id, affiliate_id
"""
OFFER_CAPS = """
SELECT offer_id, metric, period, cap_limit, affiliate_id
FROM offer_caps WHERE offer_id = ANY($1::bigint[]) ORDER BY offer_id, id
"""
DELETE_OFFER_GOALS = "DELETE FROM offer_goals WHERE offer_id = $1"
DELETE_OFFER_OVERRIDES = "DELETE FROM offer_payout_overrides WHERE offer_id = $1"
DELETE_OFFER_CAPS = "DELETE FROM offer_caps WHERE offer_id = $1"
INSERT_OFFER_GOALS = """
INSERT INTO offer_goals (offer_id, name, revenue_type, revenue_value, payout_type,
    payout_value, allow_multiple)
SELECT $1, * FROM unnest($2::text[], $3::text[], $4::numeric[], $5::text[], $6::numeric[],
    $7::boolean[])
"""
INSERT_OFFER_OVERRIDES = """
INSERT INTO offer_payout_overrides (offer_id, affiliate_id, payout_type, payout_value)
SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::numeric[])
"""
INSERT_OFFER_CAPS = """
INSERT INTO offer_caps (offer_id, metric, period, cap_limit, affiliate_id)
SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[])
"""
OFFER_HAS_LINKS = "SELECT EXISTS (SELECT 1 FROM links WHERE offer_id = $1)"
ARCHIVE_OFFER = "UPDATE offers SET status = 'archived', updated_at = now() WHERE id = $1"
DELETE_OFFER = "DELETE FROM offers WHERE id = $1"
TOUCH_OFFER = "UPDATE offers SET updated_at = now() WHERE id = $1"
ADVERTISER_STATUS = "SELECT status FROM advertisers WHERE id = $1"
EXISTING_AFFILIATES = "SELECT id FROM affiliates WHERE id = ANY($1::bigint[])"

AFFILIATE_COLUMNS = """id, name, email, postback_url, postback_method, postback_on, status,
signing_secret, created_at, updated_at"""

INSERT_AFFILIATE = f"""
INSERT INTO affiliates (name, email, postback_url, postback_method, postback_on, status,
    signing_secret)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING {AFFILIATE_COLUMNS}
"""
GET_AFFILIATE = f"SELECT {AFFILIATE_COLUMNS} FROM affiliates WHERE id = $1"
LIST_AFFILIATES = f"""
SELECT {AFFILIATE_COLUMNS} FROM affiliates
WHERE id > $1 AND ($3::bigint IS NULL OR id = $3) AND ($4::text IS NULL OR status = $4)
ORDER BY id LIMIT $2
"""
AFFILIATE_IS_REFERENCED = """
SELECT EXISTS (SELECT 1 FROM links WHERE affiliate_id = $1)
    OR EXISTS (SELECT 1 FROM api_keys WHERE affiliate_id = $1)
    OR EXISTS (SELECT 1 FROM offer_payout_overrides WHERE affiliate_id = $1)
    OR EXISTS (SELECT 1 FROM offer_caps WHERE affiliate_id = $1)
"""
ARCHIVE_AFFILIATE = "UPDATE affiliates SET status = 'archived', updated_at = now() WHERE id = $1"
DELETE_AFFILIATE = "DELETE FROM affiliates WHERE id = $1"
AFFILIATE_STATUS = "SELECT status FROM affiliates WHERE id = $1"
OFFER_STATUS = "SELECT status FROM offers WHERE id = $1"

LINK_COLUMNS = "id, code, affiliate_id, offer_id, status, created_at, updated_at"

INSERT_LINK = f"""
INSERT INTO links (code, affiliate_id, offer_id) VALUES ($1, $2, $3)
ON CONFLICT (code) DO NOTHING
RETURNING {LINK_COLUMNS}
"""
GET_LINK = f"SELECT {LINK_COLUMNS} FROM links WHERE id = $1"
LIST_LINKS = f"""
SELECT {LINK_COLUMNS} FROM links
WHERE id > $1 AND ($3::bigint IS NULL OR affiliate_id = $3)
  AND ($4::bigint IS NULL OR offer_id = $4) AND ($5::text IS NULL OR status = $5)
ORDER BY id LIMIT $2
"""
SET_LINK_STATUS = f"""
UPDATE links SET status = $2, updated_at = now() WHERE id = $1 RETURNING {LINK_COLUMNS}
"""
