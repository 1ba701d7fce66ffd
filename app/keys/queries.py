from app.pagination import page_sql

INSERT_KEY = """
INSERT INTO api_keys (key_hash, prefix, name, role, affiliate_id)
VALUES ($1, $2, $3, $4, $5)
RETURNING id, prefix, name, role, affiliate_id, created_at, revoked_at, last_used_at
"""

# Unrevoked, which is not yet usable: the affiliate's status comes in the same query, so
# archiving or pausing an affiliate stops its keys on the very next request, in every web
# process (nothing is cached).
FIND_UNREVOKED_KEY = """
SELECT k.id, k.role, k.affiliate_id, a.status AS affiliate_status,
       k.last_used_at IS NULL OR k.last_used_at < now() - $2::interval AS use_unrecorded
FROM api_keys k LEFT JOIN affiliates a ON a.id = k.affiliate_id
WHERE k.key_hash = $1 AND k.revoked_at IS NULL
"""

LIST_KEYS = page_sql(
    "SELECT id, prefix, name, role, affiliate_id, created_at, revoked_at, last_used_at"
    " FROM api_keys"
)

REVOKE_KEY = """
UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1
RETURNING id, prefix, name, role, affiliate_id, created_at, revoked_at, last_used_at
"""

# Guarded again here: of several processes seeing a stale value at once, all write the
# same minute; none writes again before it has passed.
RECORD_USE = """
UPDATE api_keys SET last_used_at = now()
WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - $2::interval)
"""
