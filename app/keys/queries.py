INSERT_KEY = """
INSERT INTO api_keys (key_hash, prefix, name, role, affiliate_id)
VALUES ($1, $2, $3, $4, $5)
RETURNING id, prefix, name, role, affiliate_id, created_at, revoked_at
"""

FIND_ACTIVE_KEY = """
SELECT id, role, affiliate_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL
"""

LIST_KEYS = """
SELECT id, prefix, name, role, affiliate_id, created_at, revoked_at
FROM api_keys WHERE id > $1 ORDER BY id LIMIT $2
"""

REVOKE_KEY = """
UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1
RETURNING id, prefix, name, role, affiliate_id, created_at, revoked_at
"""

AFFILIATE_EXISTS = "SELECT 1 FROM affiliates WHERE id = $1"
