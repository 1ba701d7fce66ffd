"""SQL of erasure: the personal columns of clicks and customers, and the erasure records."""

from app.pagination import page_sql

# Only rows that still hold something personal count (and are written).
_STILL_PERSONAL = """
  AND (ip IS NOT NULL OR user_agent IS NOT NULL OR referer IS NOT NULL
       OR accept_language IS NOT NULL)
"""
_CLEAR = "UPDATE clicks SET ip = NULL, user_agent = NULL, referer = NULL, accept_language = NULL"

# clicked_at is the time inside the click ID: one day partition is read.
CLEAR_CLICK = f"{_CLEAR} WHERE click_id = $1 AND clicked_at = $2 {_STILL_PERSONAL}"
# Equal as inet: a host address matches the rows of that address (not a network kept by
# IP_ANONYMIZE, which is matched by giving that network). No index: every partition is
# read, which an erasure, rare and not on any hot path, can afford.
CLEAR_CLICKS_OF_IP = f"{_CLEAR} WHERE ip = $1::inet {_STILL_PERSONAL}"

INSERT_ERASURE = """
INSERT INTO privacy_erasures (kind, subject, key_id, counts, requested_at)
VALUES ($1, $2, $3, $4::jsonb, $5)
RETURNING id, kind, subject, key_id, counts, requested_at, finished_at
"""

LIST_ERASURES = page_sql(
    "SELECT id, kind, subject, key_id, counts, requested_at, finished_at FROM privacy_erasures"
)

# --- customers -----------------------------------------------------------------------

CUSTOMER = "SELECT id, advertiser_id, external_id, erased_at FROM customers WHERE id = $1"
CUSTOMER_CLICKS = """
SELECT click_id FROM customers WHERE id = $1 AND click_id IS NOT NULL
UNION
SELECT click_id FROM conversions WHERE customer_id = $1 AND click_id IS NOT NULL
ORDER BY click_id
"""
CLEAR_CUSTOMER = """
UPDATE customers SET external_id = NULL, erased_at = now(), updated_at = now()
WHERE id = $1 AND external_id IS NOT NULL
"""
