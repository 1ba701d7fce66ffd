COLUMNS = """id, name, email, postback_url, postback_method, postback_on, status,
signing_secret, company, website, country, contact, payment_masked AS payment, tags,
manager_id, group_id, application, payout_threshold::text AS payout_threshold, created_at,
updated_at"""

INSERT = f"""
INSERT INTO affiliates (name, email, postback_url, postback_method, postback_on, status,
    signing_secret, company, website, country, contact, tags, manager_id, group_id,
    payout_threshold)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::text::jsonb)
RETURNING {COLUMNS}
"""
GET = f"SELECT {COLUMNS} FROM affiliates WHERE id = $1"
LOCK = "SELECT status, group_id FROM affiliates WHERE id = $1 FOR UPDATE"
LIST = f"""
SELECT {COLUMNS} FROM affiliates
WHERE id > $1 AND ($3::bigint IS NULL OR id = $3) AND ($4::text IS NULL OR status = $4)
    AND ($5::text IS NULL OR tags @> ARRAY[$5::text])
    AND ($6::bigint IS NULL OR group_id = $6)
    AND ($7::bigint[] IS NULL OR id = ANY($7::bigint[]))
ORDER BY id LIMIT $2
"""
STATUS = "SELECT status FROM affiliates WHERE id = $1"
EXISTING_IDS = "SELECT id FROM affiliates WHERE id = ANY($1::bigint[])"
NAMES = "SELECT id, name FROM affiliates WHERE id = ANY($1::bigint[])"
IS_REFERENCED = """
SELECT EXISTS (SELECT 1 FROM links WHERE affiliate_id = $1)
    OR EXISTS (SELECT 1 FROM api_keys WHERE affiliate_id = $1)
    OR EXISTS (SELECT 1 FROM offer_payout_overrides WHERE affiliate_id = $1)
    OR EXISTS (SELECT 1 FROM offer_caps WHERE affiliate_id = $1)
    OR EXISTS (SELECT 1 FROM ledger_entries WHERE affiliate_id = $1)
"""
ARCHIVE = "UPDATE affiliates SET status = 'archived', updated_at = now() WHERE id = $1"
DELETE = "DELETE FROM affiliates WHERE id = $1"
