"""SQL of the sender and the deliveries API."""

from app.pagination import page_sql

# The receiver a delivery goes to: the URL's authority (host and port), lower-cased. The
# sender computes the same key in Python (receivers.host_key) to leave busy hosts alone.
HOST_KEY_SQL = r"coalesce(lower(substring(url from '^[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)')), '')"

# A lease is committed without waiting for the disk (synchronous_commit off for its
# transaction): lost in a crash, it only makes its rows claimable again (as after a killed
# sender), and a try's record, committed durably later, makes the lease durable with it.
_NO_WAIT = "(SELECT set_config('synchronous_commit', 'off', true)) AS no_wait"
# Rows of busy receivers ($3) stay where they are, so a slow receiver's backlog cannot
# take the slots of the others. The body is read as text: it is sent as stored.
CLAIM = f"""
UPDATE deliveries d SET next_attempt_at = now() + $2::interval
FROM {_NO_WAIT}, (
    SELECT id, next_attempt_at, kind, affiliate_id, webhook_id FROM deliveries
    WHERE status = 'pending' AND next_attempt_at <= now()
        AND NOT ({HOST_KEY_SQL} = ANY($3::text[]))
    ORDER BY next_attempt_at LIMIT $1
    FOR UPDATE SKIP LOCKED
) due
LEFT JOIN affiliates a ON a.id = due.affiliate_id AND due.kind = 'postback'
-- A webhook's endpoint as it is now: no row once it is deleted.
LEFT JOIN webhooks w ON w.id = due.webhook_id
WHERE d.id = due.id
RETURNING d.id, d.url, d.method, d.body::text AS body, d.attempts, d.kind, d.webhook_id,
    d.event_id, a.signing_secret, w.secret AS webhook_secret, w.status AS webhook_status,
    CASE WHEN w.previous_secret_until > now() THEN w.previous_secret END
        AS webhook_previous_secret,
    due.next_attempt_at AS due_at
"""
# Claimed rows over a receiver's share go back, due as before, for the next claim.
RELEASE = f"""
UPDATE deliveries d SET next_attempt_at = r.due_at
FROM {_NO_WAIT}, unnest($1::bigint[], $2::timestamptz[]) AS r (id, due_at)
WHERE d.id = r.id AND d.status = 'pending'
"""
# A batch of tries: their delivery_attempts rows and the deliveries' new state, one
# statement. A failed delivery's next_attempt_at is when it failed.
RECORD_TRIES = """
WITH t AS (
    SELECT * FROM unnest($1::bigint[], $2::integer[], $3::text[], $4::integer[], $5::text[],
        $6::text[], $7::timestamptz[])
        AS t(id, status_code, error, latency_ms, snippet, status, retry_at)
), tried AS (
    INSERT INTO delivery_attempts (delivery_id, status_code, error, latency_ms, response_snippet)
    SELECT id, status_code, error, latency_ms, snippet FROM t
)
UPDATE deliveries d SET status = t.status, attempts = d.attempts + 1, last_error = t.error,
    delivered_at = CASE WHEN t.status = 'delivered' THEN now() ELSE d.delivered_at END,
    next_attempt_at = CASE WHEN t.status = 'delivered' THEN d.next_attempt_at
        ELSE coalesce(t.retry_at, now()) END
FROM t WHERE d.id = t.id
"""

AFFILIATE_FOR_POSTBACK = """
SELECT id, postback_url, postback_method, postback_on FROM affiliates WHERE id = $1
"""
# A batch of outbox rows, a column per parameter (bodies as JSON text).
INSERT_DELIVERIES = """
INSERT INTO deliveries (conversion_id, affiliate_id, conversion_status, method, url, body)
SELECT c, a, s, m, u, b::jsonb
FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[])
    AS t(c, a, s, m, u, b)
RETURNING id
"""

DELIVERY_COLUMNS = """id, kind, conversion_id, affiliate_id, conversion_status, webhook_id,
event_id, event_type, method, url, status, attempts, next_attempt_at, last_error, created_at,
delivered_at"""
LIST_DELIVERIES = page_sql(
    f"SELECT {DELIVERY_COLUMNS} FROM deliveries",
    "affiliate_id in bigint[], status = text pending|delivered|failed,"
    " kind = text postback|webhook, webhook_id = bigint",
)
GET_DELIVERY = f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = $1"
LIST_ATTEMPTS = """
SELECT id, attempted_at, status_code, error, latency_ms, response_snippet
FROM delivery_attempts WHERE delivery_id = $1 ORDER BY id
"""
# A delivered row is left alone: resending it would notify the affiliate twice.
RETRY_DELIVERY = f"""
UPDATE deliveries SET status = 'pending', next_attempt_at = now()
WHERE id = $1 AND status <> 'delivered'
RETURNING {DELIVERY_COLUMNS}
"""
