"""The SQL of accounts: users, sessions and single-use tokens."""

USER_COLUMNS = """u.id, u.email, u.name, u.role, u.affiliate_id, u.key_id, u.time_zone,
u.locale, u.disabled_at IS NOT NULL AS disabled, u.password_hash IS NOT NULL AS has_password,
u.created_at, u.created_by, u.updated_at, u.updated_by"""

INSERT_USER = f"""
INSERT INTO users AS u (email, name, role, affiliate_id, key_id, created_by, updated_by)
VALUES ($1, $2, $3, $4, $5, $6, $6)
RETURNING {USER_COLUMNS}
"""
EMAIL_TAKEN = "SELECT EXISTS (SELECT 1 FROM users WHERE lower(email) = lower($1))"
GET_USER = f"SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1"
LIST_USERS = f"SELECT {USER_COLUMNS} FROM users u WHERE u.id > $1 ORDER BY u.id LIMIT $2"
UPDATE_USER = f"""
UPDATE users AS u SET name = $2, time_zone = $3, locale = $6,
    disabled_at = CASE WHEN $4 THEN coalesce(disabled_at, now()) ELSE NULL END,
    updated_at = now(), updated_by = $5
WHERE id = $1
RETURNING {USER_COLUMNS}
"""
# The user an address signs in as, with what sign-in checks: the hash, and whether an
# affiliate user's affiliate may act (its keys are refused otherwise: app/keys).
FIND_FOR_SIGN_IN = """
SELECT u.id, u.password_hash, u.disabled_at IS NOT NULL AS disabled, u.role,
    a.status AS affiliate_status
FROM users u LEFT JOIN affiliates a ON a.id = u.affiliate_id
WHERE lower(u.email) = lower($1)
"""
USER_EMAIL = "SELECT email FROM users WHERE id = $1"
SET_PASSWORD = """
UPDATE users SET password_hash = $2, updated_at = now(), updated_by = $3 WHERE id = $1
"""
AFFILIATE_CONTACT = "SELECT id, name, email FROM affiliates WHERE id = $1"
AFFILIATE_HAS_USER = "SELECT EXISTS (SELECT 1 FROM users WHERE affiliate_id = $1)"
AFFILIATE_EXISTS = "SELECT EXISTS (SELECT 1 FROM affiliates WHERE id = $1)"
# The affiliates a manager (by identity key) manages.
MANAGED_AFFILIATES = "SELECT id FROM affiliates WHERE manager_id = $1 ORDER BY id"

# --- sessions ------------------------------------------------------------------------

INSERT_SESSION = """
INSERT INTO user_sessions (token_hash, user_id, csrf_token, ip, user_agent, expires_at)
VALUES ($1, $2, $3, $4, $5, now() + $6::interval)
"""
# A live session and its user; last_seen_at is written at most once a minute.
FIND_SESSION = """
WITH s AS (
    SELECT id, user_id, csrf_token FROM user_sessions
    WHERE token_hash = $1 AND expires_at > now()
), seen AS (
    UPDATE user_sessions SET last_seen_at = now()
    WHERE id = (SELECT id FROM s) AND last_seen_at < now() - interval '1 minute'
)
SELECT s.id AS session_id, s.csrf_token, u.id, u.email, u.name, u.role, u.affiliate_id,
    u.key_id, u.time_zone, u.locale, a.status AS affiliate_status, a.name AS affiliate_name
FROM s JOIN users u ON u.id = s.user_id
LEFT JOIN affiliates a ON a.id = u.affiliate_id
WHERE u.disabled_at IS NULL
"""
DELETE_SESSION = "DELETE FROM user_sessions WHERE token_hash = $1"
DELETE_USER_SESSIONS = "DELETE FROM user_sessions WHERE user_id = $1"
# A user's expired sessions, dropped when they sign in again (no sweeper needed).
DELETE_EXPIRED_SESSIONS = "DELETE FROM user_sessions WHERE user_id = $1 AND expires_at <= now()"

# Erasure of a visitor's address (app/privacy): the sessions' client details.
SESSION_ADDRESSES = "SELECT id, ip FROM user_sessions WHERE ip IS NOT NULL"
CLEAR_SESSION_CLIENTS = """
UPDATE user_sessions SET ip = NULL, user_agent = NULL WHERE id = ANY($1::bigint[])
"""

# --- single-use tokens ---------------------------------------------------------------

# A new link of a purpose replaces the user's unused ones of that purpose.
DROP_UNUSED_TOKENS = """
DELETE FROM user_tokens WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL
"""
INSERT_TOKEN = """
INSERT INTO user_tokens (token_hash, user_id, purpose, expires_at)
VALUES ($1, $2, $3, now() + $4::interval)
RETURNING expires_at
"""
# Used once: the first caller marks it; a used, expired or unknown token returns nothing.
USE_TOKEN = """
UPDATE user_tokens t SET used_at = now()
FROM users u
WHERE t.token_hash = $1 AND t.purpose = $2 AND t.used_at IS NULL AND t.expires_at > now()
  AND u.id = t.user_id AND u.disabled_at IS NULL
RETURNING t.user_id
"""
# Whether a link still works (its form is shown), without using it.
PEEK_TOKEN = """
SELECT u.email FROM user_tokens t JOIN users u ON u.id = t.user_id
WHERE t.token_hash = $1 AND t.purpose = $2 AND t.used_at IS NULL AND t.expires_at > now()
  AND u.disabled_at IS NULL
"""
