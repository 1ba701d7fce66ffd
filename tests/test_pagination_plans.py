"""page_sql's statements: a filter that is not set is left out of the WHERE, so that the
plan PostgreSQL keeps for a prepared statement (a generic one, after five runs) still
uses the filter's index; every list query of the app prepares with its filters set and
unset."""

from __future__ import annotations

import importlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import app
from app.db import Pool
from app.pagination import PageSql, page_sql
from app.sender import queries as sender_queries
from tests.support.portal import clicked_conversion

LIST = page_sql("SELECT id FROM t", "a in bigint[], b = text, c >= timestamptz")


def test_unset_filters_are_left_out_and_the_rest_numbered_in_order() -> None:
    sql, *values = LIST.bind(7, 50, None, "x", None)
    assert values == [7, 50, "x"]
    assert "WHERE id > $1\n  AND b = $3::text\nORDER BY id LIMIT $2" in sql
    assert "IS NULL" not in sql
    sql, *values = LIST.bind(0, 10, [1, 2], None, "2026-01-01")
    assert values == [0, 10, [1, 2], "2026-01-01"]
    assert "a = ANY($3::bigint[])\n  AND c >= $4::timestamptz" in sql
    sql, *values = LIST.bind(0, 10, None, None, None)
    assert values == [0, 10]
    assert "WHERE id > $1\nORDER BY" in sql


def test_an_enumerated_value_is_written_into_the_statement() -> None:
    query = page_sql("SELECT id FROM t", "a = bigint, kind = text postback|webhook")
    sql, *values = query.bind(0, 10, 3, "webhook")
    assert values == [0, 10, 3]
    assert "a = $3::bigint\n  AND kind = 'webhook'::text" in sql
    sql, *values = query.bind(0, 10, None, "other")
    assert values == [0, 10, "other"]
    assert "kind = $3::text" in sql
    with pytest.raises(ValueError, match="plain lowercase words"):
        page_sql("SELECT id FROM t", "kind = text a'b|c")


def test_a_filter_value_too_many_or_too_few_is_refused() -> None:
    with pytest.raises(TypeError):
        LIST.bind(0, 10, None, None)
    with pytest.raises(TypeError):
        LIST.bind(0, 10, None, None, None, None)


def _page_queries() -> list[tuple[str, PageSql]]:
    """Every PageSql of the app's modules that call page_sql (some packages have no
    __init__, so the files are walked, not the packages)."""
    found = []
    root = Path(app.__file__).parent
    for path in sorted(root.rglob("*.py")):
        if "page_sql(" not in path.read_text() or path.name == "pagination.py":
            continue
        module_name = ".".join(("app", *path.relative_to(root).with_suffix("").parts))
        module = importlib.import_module(module_name)
        for name, value in vars(module).items():
            if isinstance(value, PageSql):
                found.append((f"{module_name}.{name}", value))
    return found


def test_every_list_query_of_the_app_is_found() -> None:
    names = {name for name, _ in _page_queries()}
    assert "app.sender.queries.LIST_DELIVERIES" in names
    assert "app.ledger.queries.LIST_ENTRIES" in names
    assert len(names) == 15


async def test_every_list_query_prepares_with_its_filters_set_and_unset(pool: Pool) -> None:
    async with pool.acquire() as conn:
        for name, query in _page_queries():
            for marker in (None, 1):
                # Any non-None value sets a filter; prepare() checks the SQL, not values.
                values: list[Any] = [marker] * len(query.conditions)
                sql, *_ = query.bind(0, 10, *values)
                statement = await conn.prepare(sql)
                assert len(statement.get_parameters()) == 2 + (
                    len(values) if marker is not None else 0
                ), name


async def _generic_plan(pool: Pool, sql: str, *values: Any) -> str:
    """EXPLAIN of the plan a prepared statement keeps for every value (PostgreSQL 15 has
    no EXPLAIN (GENERIC_PLAN): the statement is PREPAREd with the generic plan forced)."""
    literals = ", ".join("NULL" if v is None else f"'{v}'" for v in values)
    async with pool.acquire() as conn:
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        try:
            await conn.execute(f"PREPARE generic_list AS {sql}")
            rows = await conn.fetch(f"EXPLAIN EXECUTE generic_list ({literals})")
            await conn.execute("DEALLOCATE generic_list")
        finally:
            await conn.execute("RESET plan_cache_mode")
    return "\n".join(r[0] for r in rows)


async def test_the_deliveries_of_a_kind_use_its_index_in_a_generic_plan(
    pool: Pool, catalog: dict[str, Any]
) -> None:
    """Many postback deliveries and a few webhook ones, as a live program has: the list of
    webhook deliveries reads deliveries_kind_idx (kind, id) in the plan kept for any
    kind, where the old `($n IS NULL OR kind = $n)` form walked the primary key."""
    sale = await clicked_conversion(
        pool,
        catalog,
        "alice_link",
        status="approved",
        sub1="s",
        revenue=Decimal("1.00"),
        payout=Decimal("0.50"),
    )
    await pool.execute(
        """INSERT INTO deliveries (conversion_id, affiliate_id, conversion_status, method, url)
           SELECT $1, $2, 'approved', 'GET', 'https://example.com/'
           FROM generate_series(1, 20000)""",
        sale,
        catalog["alice"]["id"],
    )
    await pool.execute(
        """INSERT INTO deliveries (kind, event_id, event_type, method, url)
           SELECT 'webhook', 'msg_' || i, 'conversion.created', 'POST', 'https://example.com/'
           FROM generate_series(1, 20) i"""
    )
    await pool.execute("ANALYZE deliveries")
    query = sender_queries.LIST_DELIVERIES
    sql, *values = query.bind(0, 50, None, None, "webhook", None)
    assert "kind = 'webhook'::text" in sql
    assert values == [0, 50]
    plan = await _generic_plan(pool, sql, *values)
    assert "deliveries_kind_idx" in plan, plan
    rows = await pool.fetch(sql, *values)
    assert len(rows) == 20
    assert {r["kind"] for r in rows} == {"webhook"}
    # The forms it replaces, for the record of why: the filter written for NULL too, and
    # as a parameter (a generic plan takes every kind as common as the other).
    for old in (
        sql.replace("kind = 'webhook'::text", "($3::text IS NULL OR kind = $3::text)"),
        sql.replace("kind = 'webhook'::text", "kind = $3::text"),
    ):
        assert "deliveries_kind_idx" not in await _generic_plan(pool, old, *values, "webhook")
    # A kind outside the list (the API refuses one first) is a parameter: no row, no error.
    sql, *values = query.bind(0, 50, None, None, "sms'--", None)
    assert "sms" not in sql
    assert values[-1] == "sms'--"
    assert await pool.fetch(sql, *values) == []
