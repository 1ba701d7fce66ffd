"""The migration runner: transactions, no-transaction files, Python migrations, partitions."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from asgi_lifespan import LifespanManager

from app import db
from app.live_migrations import partition_index_name, sql_statements
from app.main import create_app
from app.settings import Settings


@pytest.fixture
async def scratch(server_urls: tuple[str, str]) -> AsyncIterator[asyncpg.Connection]:
    """A connection to an empty database of this test's own."""
    admin_url = server_urls[0]
    name = f"tracker_migrations_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    conn = await asyncpg.connect(admin_url.rsplit("/", 1)[0] + "/" + name)
    try:
        yield conn
    finally:
        await conn.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


def test_statements_split_at_top_level_semicolons_only() -> None:
    source = """-- migrate: no-transaction
CREATE TABLE a (t text DEFAULT 'x;y', "odd;name" int); /* a; comment /* nested; */ still */
CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $body$ SELECT 1; $body$;
SELECT E'it\\'s;', 'it''s;', $$;$$, $1;  -- trailing; comment
-- only a comment;
"""
    assert sql_statements(source) == [
        "-- migrate: no-transaction\nCREATE TABLE a (t text DEFAULT 'x;y', \"odd;name\" int)",
        "/* a; comment /* nested; */ still */\n"
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $body$ SELECT 1; $body$",
        "SELECT E'it\\'s;', 'it''s;', $$;$$, $1",
    ]


async def test_a_failing_file_changes_nothing_and_is_not_recorded(
    scratch: asyncpg.Connection, tmp_path: Path
) -> None:
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE kept (id int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE lost (id int); SELECT 1/0;")
    with pytest.raises(asyncpg.DivisionByZeroError):
        await db.migrate(scratch, tmp_path)
    assert await scratch.fetchval("SELECT to_regclass('lost')") is None
    assert await db.pending_migrations(scratch, tmp_path) == ["0002_bad.sql"]
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE kept (id bigint);")
    with pytest.raises(RuntimeError, match=r"0001_ok\.sql changed after it was applied"):
        await db.migrate(scratch, tmp_path)


async def test_a_no_transaction_file_builds_indexes_concurrently(
    scratch: asyncpg.Connection, tmp_path: Path
) -> None:
    (tmp_path / "0001_table.sql").write_text(
        "CREATE TABLE t (id int, n int); INSERT INTO t SELECT g, g FROM generate_series(1, 9) g;"
    )
    (tmp_path / "0002_index.sql").write_text(
        "-- migrate: no-transaction\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_n_idx ON t (n);\n"
        "ALTER TABLE t ADD CONSTRAINT t_n_positive CHECK (n > 0) NOT VALID;\n"
        "ALTER TABLE t VALIDATE CONSTRAINT t_n_positive;\n"
    )
    assert await db.migrate(scratch, tmp_path) == ["0001_table.sql", "0002_index.sql"]
    assert await scratch.fetchval(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_n_idx'::regclass"
    )
    assert await scratch.fetchval(
        "SELECT convalidated FROM pg_constraint WHERE conname = 't_n_positive'"
    )
    assert await db.migrate(scratch, tmp_path) == []


PARTITIONED_INDEX = """
from app.live_migrations import build_partitioned_index

TRANSACTION = False


async def apply(conn):
    await build_partitioned_index(
        conn, table="events", index="events_kind_idx", definition="(kind) INCLUDE (n) WHERE n > 0"
    )
"""


async def test_a_python_migration_indexes_each_partition_and_attaches_it(
    scratch: asyncpg.Connection, tmp_path: Path
) -> None:
    await scratch.execute(
        "CREATE TABLE events (day date, kind text, n int) PARTITION BY RANGE (day)"
    )
    for day in (1, 2, 3):
        await scratch.execute(
            f"CREATE TABLE events_{day} PARTITION OF events "
            f"FOR VALUES FROM ('2026-01-0{day}') TO ('2026-01-0{day + 1}')"
        )
    await scratch.execute(
        "INSERT INTO events VALUES ('2026-01-01', 'a', 1), ('2026-01-03', 'b', 2)"
    )
    # A build that stopped half-way: the parent index made, one partition's index invalid.
    definition = "(kind) INCLUDE (n) WHERE n > 0"
    await scratch.execute(f"CREATE INDEX events_kind_idx ON ONLY events {definition}")
    broken = partition_index_name("events_kind_idx", "events_2")
    await scratch.execute(f'CREATE INDEX "{broken}" ON events_2 {definition}')
    await scratch.execute(
        "UPDATE pg_index SET indisvalid = false WHERE indexrelid = $1::regclass", broken
    )
    (tmp_path / "0001_index.py").write_text(PARTITIONED_INDEX)
    assert await db.migrate(scratch, tmp_path) == ["0001_index.py"]
    rows = await scratch.fetch(
        """SELECT c.relname AS partition, x.indisvalid FROM pg_inherits i
           JOIN pg_index x ON x.indexrelid = i.inhrelid JOIN pg_class c ON c.oid = x.indrelid
           WHERE i.inhparent = 'events_kind_idx'::regclass ORDER BY 1"""
    )
    assert [(r["partition"], r["indisvalid"]) for r in rows] == [
        ("events_1", True),
        ("events_2", True),
        ("events_3", True),
    ]
    assert await scratch.fetchval(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 'events_kind_idx'::regclass"
    )
    # A partition made afterwards gets its index from the parent.
    await scratch.execute(
        "CREATE TABLE events_4 PARTITION OF events FOR VALUES FROM ('2026-01-04') TO ('2026-01-05')"
    )
    assert (
        await scratch.fetchval(
            """SELECT count(*) FROM pg_inherits WHERE inhparent = 'events_kind_idx'::regclass"""
        )
        == 4
    )


async def test_a_web_process_that_does_not_migrate_refuses_an_old_schema(
    scratch: asyncpg.Connection, settings: Settings, tmp_path: Path
) -> None:
    await scratch.execute(
        "CREATE TABLE schema_migrations (version text PRIMARY KEY, checksum text)"
    )
    url = settings.database_url
    assert url is not None
    name = await scratch.fetchval("SELECT current_database()")
    stale = settings.model_copy(
        update={"database_url": url.rsplit("/", 1)[0] + "/" + name, "migrate_on_start": False}
    )
    with pytest.raises(RuntimeError, match=r"run `tracker migrate`"):
        async with LifespanManager(create_app(stale)):
            pass


def test_migrating_on_start_is_for_development_unless_set() -> None:
    assert Settings(environment="development").migrates_on_start
    assert not Settings(environment="production").migrates_on_start
    assert Settings(environment="production", migrate_on_start=True).migrates_on_start
