"""SQL of coupons: the API's and the worker's lookup."""

from app.pagination import page_sql

COLUMNS = "id, advertiser_id, offer_id, affiliate_id, code, status, created_at, updated_at"

# NULL when the code is taken for the advertiser (whatever its case).
INSERT = f"""
INSERT INTO coupons (advertiser_id, offer_id, affiliate_id, code, status)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (advertiser_id, lower(code)) DO NOTHING
RETURNING {COLUMNS}
"""
GET = f"SELECT {COLUMNS} FROM coupons WHERE id = $1"
LIST = page_sql(
    f"SELECT {COLUMNS} FROM coupons",
    "affiliate_id in bigint[], offer_id = bigint, advertiser_id = bigint, status = text",
)
SET_STATUS = f"""
UPDATE coupons SET status = $2, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}
"""
USED = "SELECT EXISTS (SELECT 1 FROM conversions WHERE coupon_id = $1)"
DELETE = "DELETE FROM coupons WHERE id = $1"
OFFER = "SELECT advertiser_id, status FROM offers WHERE id = $1"
HAS_LINK = """
SELECT EXISTS (SELECT 1 FROM links WHERE affiliate_id = $1 AND offer_id = $2 AND status = 'active')
"""

# The worker: every coupon with one of these codes, of any advertiser (a code sent to the
# wrong advertiser is told apart from an unknown one).
FIND_CODES = f"SELECT {COLUMNS} FROM coupons WHERE lower(code) = ANY($1::text[])"
