"""The migration runner: transactions, no-transaction files, Python migrations, partitions,
baselines."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from asgi_lifespan import LifespanManager

from app import db, live_migrations
from app.live_migrations import partition_index_name, sql_statements
from app.main import create_app
from app.settings import Settings


@pytest.fixture
async def scratch(server_urls: tuple[str, str]) -> AsyncIterator[asyncpg.Connection]:
    """A connection to an empty database of this test's own."""
    async with _empty_database(server_urls[0]) as conn:
        yield conn


@contextlib.asynccontextmanager
async def _empty_database(admin_url: str) -> AsyncIterator[asyncpg.Connection]:
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


def test_a_baseline_names_what_it_replaces_in_its_header() -> None:
    source = (
        "-- migrate: replaces 0001_a 0002_b.sql\n"
        "-- migrate: no-transaction\n"
        "-- migrate: replaces 0004_d.py\n"
        "-- a comment ends the header: migrate: replaces 0005_e\n"
        "-- migrate: replaces 0006_f\n"
        "SELECT 1;\n"
    )
    assert live_migrations.replaced_versions(source) == ["0001_a", "0002_b", "0004_d"]
    assert live_migrations.headers(source) == [
        "replaces 0001_a 0002_b.sql",
        "no-transaction",
        "replaces 0004_d.py",
    ]
    assert live_migrations.replaced_versions("SELECT 1;\n-- migrate: replaces 0001_a") == []


# An old chain (0001, 0002, 0004: 0003 never existed) and the baseline that replaces it.
OLD_CHAIN = {
    "0001_a.sql": "CREATE TABLE a (id int);",
    "0002_b.sql": "ALTER TABLE a ADD COLUMN n int;",
    "0004_c.sql": "-- migrate: no-transaction\nCREATE INDEX CONCURRENTLY a_n_idx ON a (n);",
}
BASELINE = (
    "-- migrate: replaces 0001_a 0002_b\n"
    "-- migrate: replaces 0004_c\n"
    "CREATE TABLE a (id int, n int);\nCREATE INDEX a_n_idx ON a (n);\n"
)
LATER = {"0005_later.sql": "ALTER TABLE a ADD COLUMN later text;"}


def _folder(path: Path, files: dict[str, str]) -> Path:
    path.mkdir()
    for name, source in files.items():
        (path / name).write_text(source)
    return path


async def _recorded(conn: asyncpg.Connection) -> list[str]:
    return [r[0] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")]


async def _columns(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'a'::regclass AND attnum > 0 "
        "ORDER BY attnum"
    )
    return [r[0] for r in rows]


async def test_a_new_database_runs_the_baseline_and_what_came_after(
    scratch: asyncpg.Connection, tmp_path: Path
) -> None:
    new = _folder(tmp_path / "new", {"0004_baseline.sql": BASELINE, **LATER})
    assert await db.pending_migrations(scratch, new) == ["0004_baseline.sql", "0005_later.sql"]
    assert await db.migrate(scratch, new) == ["0004_baseline.sql", "0005_later.sql"]
    assert await _columns(scratch) == ["id", "n", "later"]
    assert await scratch.fetchval("SELECT to_regclass('a_n_idx') IS NOT NULL")
    assert await _recorded(scratch) == ["0004_baseline.sql", "0005_later.sql"]
    assert await db.migrate(scratch, new) == []


async def test_a_database_with_the_whole_old_chain_records_the_baseline_without_running_it(
    scratch: asyncpg.Connection, tmp_path: Path
) -> None:
    old = _folder(tmp_path / "old", OLD_CHAIN)
    assert await db.migrate(scratch, old) == list(OLD_CHAIN)
    new = _folder(tmp_path / "new", {"0004_baseline.sql": BASELINE, **LATER})
    # The old files are gone and their checksums unknown: nothing complains.
    assert await db.pending_migrations(scratch, new) == ["0004_baseline.sql", "0005_later.sql"]
    # Run, the baseline's CREATE TABLE a would fail: the table exists.
    assert await db.migrate(scratch, new) == ["0004_baseline.sql", "0005_later.sql"]
    assert await _columns(scratch) == ["id", "n", "later"]
    assert await _recorded(scratch) == sorted([*OLD_CHAIN, "0004_baseline.sql", "0005_later.sql"])
    assert await db.migrate(scratch, new) == []
    assert await db.pending_migrations(scratch, new) == []


async def test_a_database_with_part_of_the_old_chain_is_refused_and_left_as_it_is(
    scratch: asyncpg.Connection, tmp_path: Path
) -> None:
    old = _folder(tmp_path / "old", dict(list(OLD_CHAIN.items())[:2]))
    assert await db.migrate(scratch, old) == ["0001_a.sql", "0002_b.sql"]
    new = _folder(tmp_path / "new", {"0004_baseline.sql": BASELINE, **LATER})
    refusal = r"lacks 0004_c: upgrade with a release that still has them first"
    with pytest.raises(RuntimeError, match=refusal):
        await db.migrate(scratch, new)
    with pytest.raises(RuntimeError, match=refusal):
        await db.pending_migrations(scratch, new)
    assert await _columns(scratch) == ["id", "n"]  # not even the later migration ran
    assert await _recorded(scratch) == ["0001_a.sql", "0002_b.sql"]
    assert await scratch.fetchval("SELECT to_regclass('a_n_idx')") is None


async def test_old_files_left_beside_their_baseline_are_not_run(
    scratch: asyncpg.Connection, tmp_path: Path
) -> None:
    both = _folder(tmp_path / "both", {**OLD_CHAIN, "0003_baseline.sql": BASELINE})
    assert await db.migrate(scratch, both) == ["0003_baseline.sql"]
    assert await _columns(scratch) == ["id", "n"]


# The migrations 0012_baseline.sql stands for, as they were recorded on older installs.
REPLACED = [
    "0001_init",
    "0002_stats_tiers",
    "0003_conversion_attribution",
    "0004_stats_daily_links",
    "0005_stats_daily_offer_country",
    "0006_stats_links_quarter_hours",
    "0007_stats_mixed_grain_tiers",
    "0008_clicks_affiliate_covering",
    "0009_stats_one_tier_trigger",
    "0010_pixel_rules",
    "0012_links_updated_at",
]
REAL_BASELINE = db.MIGRATIONS_DIR / "0012_baseline.sql"


async def _record_old_chain(conn: asyncpg.Connection, names: list[str]) -> None:
    """What an install migrated by an older release holds: the schema and its records.

    The baseline makes the schema the old chain made (README, Operations: the pg_dump
    comparison); the old files' checksums are unknown here, as they are to the runner.
    """
    await conn.execute(REAL_BASELINE.read_text())
    await conn.execute(
        "CREATE TABLE schema_migrations (version text PRIMARY KEY, checksum text NOT NULL, "
        "applied_at timestamptz NOT NULL DEFAULT now())"
    )
    await conn.executemany(
        "INSERT INTO schema_migrations (version, checksum) VALUES ($1, 'old')",
        [(f"{name}.sql",) for name in names],
    )


def test_the_baseline_replaces_every_migration_up_to_0012() -> None:
    assert live_migrations.replaced_versions(REAL_BASELINE.read_text()) == REPLACED
    files = [p.name for p in db.migration_files()]
    assert files[0] == REAL_BASELINE.name
    assert all(name >= "0013" for name in files[1:])  # what came later sorts after it


async def test_the_real_baseline_on_new_and_on_old_databases(
    scratch: asyncpg.Connection, server_urls: tuple[str, str]
) -> None:
    later = [p.name for p in db.migration_files()][1:]
    applied = await db.migrate(scratch)
    assert applied == [REAL_BASELINE.name, *later]
    tables = await scratch.fetchval(
        "SELECT count(*) FROM pg_class WHERE relname LIKE 'stats\\_rollup%' AND relkind = 'r'"
    )
    assert tables == 8
    # An install of an older release: the baseline is recorded, what came later runs.
    async with _empty_database(server_urls[0]) as old:
        await _record_old_chain(old, REPLACED)
        assert await db.migrate(old) == applied
        assert await db.migrate(old) == []


async def test_an_install_with_part_of_the_old_chain_refuses_to_start(
    scratch: asyncpg.Connection, settings: Settings
) -> None:
    await _record_old_chain(scratch, [n for n in REPLACED if n != "0010_pixel_rules"])
    url = settings.database_url
    assert url is not None
    name = await scratch.fetchval("SELECT current_database()")
    for migrates in (True, False):
        partial = settings.model_copy(
            update={
                "database_url": url.rsplit("/", 1)[0] + "/" + name,
                "migrate_on_start": migrates,
            }
        )
        with pytest.raises(RuntimeError, match=r"lacks 0010_pixel_rules: upgrade with a release"):
            async with LifespanManager(create_app(partial)):
                pass
    assert await scratch.fetchval("SELECT count(*) FROM schema_migrations") == len(REPLACED) - 1
