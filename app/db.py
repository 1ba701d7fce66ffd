"""asyncpg pool and the forward-only migration runner (README: migrations on a live system)."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import TypeAlias, TypeVar

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from app import outage
from app.live_migrations import NO_TRANSACTION, headers, plan, sql_statements

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# Any constant works; it only has to be the same in every process that migrates.
MIGRATION_LOCK_ID = 0x7472_6B72

Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"
# A connection of one's own, or one borrowed from a pool: both run queries and transactions.
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
# Anything that runs a single statement.
Executor: TypeAlias = "Connection | Pool"

T = TypeVar("T")
# Errors after which a transaction is simply run again: the loser of a deadlock or of a
# serialization conflict (writers of shared sum rows can cross each other's row order).
RETRYABLE: tuple[type[BaseException], ...] = (
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
)
RETRIES = 5


async def retrying(
    transaction: Callable[[], Awaitable[T]], also: tuple[type[BaseException], ...] = ()
) -> T:
    """Run `transaction` (a whole transaction, safe to repeat) again when it loses a
    deadlock or a serialization conflict (or raises one of `also`), up to RETRIES times."""
    for attempt in range(RETRIES):
        try:
            return await transaction()
        except RETRYABLE + also:
            if attempt == RETRIES - 1:
                raise
            await asyncio.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")


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
    """The migrations not applied yet (all of them on an empty database).

    Raises RuntimeError where `migrate` would refuse to start (see `plan`)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    recorded = await _recorded(conn) if exists else {}
    return [step.path.name for step in plan(migration_files(directory), recorded)]


async def _recorded(conn: Connection) -> dict[str, str]:
    rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
    return {r["version"]: r["checksum"] for r in rows}


async def migrate(conn: Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply the migrations not yet recorded, in order; return their names.

    An advisory lock makes concurrent starts (several web processes) apply each file once.
    A checksum per file catches an applied migration edited after the fact. A file runs in
    one transaction unless it says otherwise, and is recorded only once all of it has run;
    a baseline whose replaced migrations are all recorded is recorded without running
    (app.live_migrations: headers, `plan`).
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
        for step in plan(migration_files(directory), await _recorded(conn)):
            if step.run:
                await _apply(conn, step.path, step.source, step.checksum)
                logger.info("applied migration %s", step.path.name)
            else:
                await conn.execute(_RECORD, step.path.name, step.checksum)
                logger.info(
                    "recorded migration %s without running it: all it replaces is applied",
                    step.path.name,
                )
            applied.append(step.path.name)
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
    if NO_TRANSACTION not in headers(source):
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
