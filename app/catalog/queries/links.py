from app.pagination import page_sql

COLUMNS = "id, code, affiliate_id, offer_id, status, created_at, updated_at"

INSERT = f"""
INSERT INTO links (code, affiliate_id, offer_id) VALUES ($1, $2, $3)
ON CONFLICT (code) DO NOTHING
RETURNING {COLUMNS}
"""
GET = f"SELECT {COLUMNS} FROM links WHERE id = $1"
# The API's filters, then the affiliates a portal manager may see (links.list_links).
_FILTERS = "affiliate_id in bigint[], offer_id = bigint, status = text, affiliate_id in bigint[]"
LIST = page_sql(f"SELECT {COLUMNS} FROM links", _FILTERS)
SET_STATUS = f"""
UPDATE links SET status = $2, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}
"""
