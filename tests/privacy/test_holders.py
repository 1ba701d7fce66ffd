"""The registry of personal data holders against the schema: no table escapes it."""

from __future__ import annotations

from app.db import Pool
from app.privacy import holders

# Columns that hold what identifies a visitor or a buyer by their name or type: any
# `external_id` is someone's ID in another system, personal unless listed below.
PERSONAL_NAMES = (
    "ip",
    "user_agent",
    "referer",
    "accept_language",
    "external_id",
    "customer_external_id",
    "customer_id_external",
    "email",
    "phone",
)
# Not a visitor's or a buyer's: an advertiser's servers allowed to send postbacks, and a
# partner's business contact (kept and changed through the affiliates API, not erased).
# The program's own contacts and accounts, not visitors' or customers' data: an affiliate's
# and a portal user's e-mail, and a signed-in user's sessions (their address and browser,
# deleted at sign-out, at "sign out everywhere" and at expiry; README, Portal).
NOT_PERSONAL = {
    ("advertisers", "ip_allowlist"),
    ("affiliates", "email"),
    ("users", "email"),
}

COLUMNS = """
SELECT c.relname AS table_name, a.attname AS column_name
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND a.attnum > 0 AND NOT a.attisdropped
  AND (a.attname = ANY($1::text[])
       OR format_type(a.atttypid, a.atttypmod) IN ('inet', 'inet[]', 'cidr', 'cidr[]'))
"""


async def test_every_personal_column_is_erased_by_a_holder(pool: Pool) -> None:
    found = {(r["table_name"], r["column_name"]) for r in await pool.fetch(COLUMNS, PERSONAL_NAMES)}
    covered = {(h.table, c) for h in holders.HOLDERS if h.table for c in h.columns}
    # The query sees what it looks for.
    assert {("clicks", "ip"), ("customers", "external_id")} <= found
    assert found - NOT_PERSONAL <= covered


def test_holder_names_are_unique_and_each_finds_something() -> None:
    names = [h.name for h in holders.HOLDERS]
    assert len(names) == len(set(names))
    assert all(h.finds_by for h in holders.HOLDERS)
    assert {h.name for h in holders.holders_for("ip")} >= {"clicks", "clicks_stream"}
    assert [h.name for h in holders.holders_for("customer_id")] == [
        "customer_clicks",
        "conversions_spool",
        "conversions_waiting",
        "conversions_dead_letters",
        "customers",  # last: while it holds the external ID, a retry finds the rest
    ]


def test_every_member_of_a_waiting_record_named_personal_is_erased() -> None:
    from app.clicks import record as click_record
    from app.postbacks import records as conversion_record
    from app.privacy import kinds

    assert kinds.CLICKS.personal == click_record.PERSONAL_MEMBERS
    assert kinds.CONVERSIONS.personal == (conversion_record.CUSTOMER_MEMBER,)
