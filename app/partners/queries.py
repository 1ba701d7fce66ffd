"""The SQL of partner management: history, notes, applications, groups and evaluation."""

ANY_PAYMENT_STORED = "SELECT EXISTS (SELECT 1 FROM affiliates WHERE payment_encrypted IS NOT NULL)"

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
