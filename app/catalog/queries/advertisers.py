from app.pagination import page_sql

# The signing secret never leaves the database through the API: only whether one is set.
COLUMNS = """id, name, status, postback_token, ip_allowlist,
signing_secret IS NOT NULL AS signing_secret_set, created_at, updated_at"""

INSERT = f"""
INSERT INTO advertisers (name, ip_allowlist, postback_token, signing_secret)
VALUES ($1, $2::cidr[], $3, $4)
RETURNING {COLUMNS}
"""
GET = f"SELECT {COLUMNS} FROM advertisers WHERE id = $1"
FIRST_NAMED = f"SELECT {COLUMNS} FROM advertisers WHERE name = $1 ORDER BY id LIMIT 1"
LIST = page_sql(f"SELECT {COLUMNS} FROM advertisers", "status = text")
STATUS = "SELECT status FROM advertisers WHERE id = $1"
ROTATE_POSTBACK_TOKEN = f"""
UPDATE advertisers SET postback_token = $2, updated_at = now() WHERE id = $1
RETURNING {COLUMNS}
"""
# Unattributed conversions name the advertiser without any offer.
IS_REFERENCED = """
SELECT EXISTS (SELECT 1 FROM offers WHERE advertiser_id = $1)
    OR EXISTS (SELECT 1 FROM conversions WHERE advertiser_id = $1)
"""
ARCHIVE = "UPDATE advertisers SET status = 'archived', updated_at = now() WHERE id = $1"
DELETE = "DELETE FROM advertisers WHERE id = $1"
