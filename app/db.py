"""asyncpg pool and the forward-only migration runner (README: migrations on a live system)."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from pathlib import Path
from types import ModuleType
from typing import Any, TypeAlias

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from app import outage
from app.live_migrations import NO_TRANSACTION, sql_statements

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# Any constant works; it only has to be the same in every process that migrates.
MIGRATION_LOCK_ID = 0x7472_6B72

Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"
# A connection of one's own, or one borrowed from a pool: both run queries and transactions.
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
# Anything that runs a single statement.
Executor: TypeAlias = "Connection | Pool"


async def _init_connection(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(
            kind,
            encoder=lambda v: orjson.dumps(v).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> Pool:
    outage.quiet_client_logs()
    pool: Pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        server_settings={"timezone": "UTC", "application_name": "tracker"},
    )
    return pool


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    return sorted(
        p for p in directory.iterdir() if p.suffix in (".sql", ".py") and p.name[:4].isdigit()
    )


async def pending_migrations(conn: Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """The migrations not applied yet (all of them on an empty database)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    done = (
        {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        if exists
        else set()
    )
    return [p.name for p in migration_files(directory) if p.name not in done]


async def migrate(conn: Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply the migrations not yet recorded, in order; return their names.

    An advisory lock makes concurrent starts (several web processes) apply each file once.
    A checksum per file catches an applied migration edited after the fact. A file runs in
    one transaction unless it says otherwise (see `migration_steps`), and is recorded only
    once all of it has run.
    """
    await conn.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               version text PRIMARY KEY,
               checksum text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now())"""
    )
    applied: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
    try:
        done: dict[str, Any] = {
            r["version"]: r["checksum"]
            for r in await conn.fetch("SELECT version, checksum FROM schema_migrations")
        }
        for path in migration_files(directory):
            source = path.read_text()
            checksum = hashlib.sha256(source.encode()).hexdigest()
            if path.name in done:
                if done[path.name] != checksum:
                    raise RuntimeError(f"migration {path.name} changed after it was applied")
                continue
            await _apply(conn, path, source, checksum)
            logger.info("applied migration %s", path.name)
            applied.append(path.name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)
    return applied


_RECORD = "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)"


async def _apply(conn: Connection, path: Path, source: str, checksum: str) -> None:
    if path.suffix == ".py":
        module = _load_python_migration(path)
        if getattr(module, "TRANSACTION", True):
            async with conn.transaction():
                await module.apply(conn)
                await conn.execute(_RECORD, path.name, checksum)
        else:
            await module.apply(conn)
            await conn.execute(_RECORD, path.name, checksum)
        return
    if NO_TRANSACTION not in source.split("\n", 1)[0]:
        async with conn.transaction():
            await conn.execute(source)
            await conn.execute(_RECORD, path.name, checksum)
        return
    for statement in sql_statements(source):
        await conn.execute(statement)
    await conn.execute(_RECORD, path.name, checksum)


def _load_python_migration(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"tracker_migration_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"migration {path.name} cannot be loaded")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not callable(getattr(module, "apply", None)):
        raise RuntimeError(f"migration {path.name} has no apply(conn) function")
    return module
