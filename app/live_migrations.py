"""What migrations on a live system are made of (README, Operations: migrations).

A `.sql` migration whose first line is `-- migrate: no-transaction` runs statement by
statement, each committed on its own, so that it may hold `CREATE INDEX CONCURRENTLY` or
`ALTER TABLE ... VALIDATE CONSTRAINT` after an `ADD CONSTRAINT ... NOT VALID`. It is
recorded once its last statement has run, so each statement must be safe to run again
(`IF NOT EXISTS`) should the migration stop half-way. A `.py` migration defines
`async def apply(conn)` and `TRANSACTION = False` when it must run outside a
transaction: `build_partitioned_index` is for those.

A baseline is a `.sql` migration that stands for earlier ones, squashed into it once
they are applied everywhere; its header names them (`-- migrate: replaces 0001_init
0002_stats_tiers`, on as many such lines as it takes). A new database runs it; one that
has every migration it replaces recorded records it without running it; one that has
only some of them is refused, since running it would make what exists again and not
running it would leave out what is missing (`plan`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg

if TYPE_CHECKING:
    from app.db import Connection

_HEADER = "-- migrate:"
NO_TRANSACTION = "no-transaction"
REPLACES = "replaces"


def headers(source: str) -> list[str]:
    """The directives of a `.sql` migration: what follows `-- migrate:` on its first lines."""
    found = []
    for line in source.splitlines():
        if not line.startswith(_HEADER):
            break
        found.append(line.removeprefix(_HEADER).strip())
    return found


def replaced_versions(source: str) -> list[str]:
    """The migrations a baseline stands for, as named in its header (without suffix)."""
    names: list[str] = []
    for directive in headers(source):
        word, _, rest = directive.partition(" ")
        if word == REPLACES:
            names.extend(version_name(n) for n in rest.split())
    return names


def version_name(file_name: str) -> str:
    """A migration's name without its `.sql` or `.py` suffix."""
    path = Path(file_name)
    return path.stem if path.suffix in (".sql", ".py") else file_name


@dataclass(frozen=True, slots=True)
class Step:
    """A migration to be recorded, and whether to run it first (a baseline whose
    replaced migrations are all applied is only recorded)."""

    path: Path
    source: str
    checksum: str
    run: bool


def plan(files: Sequence[Path], recorded: Mapping[str, str]) -> list[Step]:
    """What to do with `files` (in order) on a database that has `recorded` (file name to
    checksum): the files not recorded yet, less those a baseline among them replaces.

    Raises RuntimeError for a recorded file changed since, and for a baseline that
    replaces migrations of which the database has some but not all.
    """
    sources = {path: path.read_text() for path in files}
    superseded = {n for p, s in sources.items() if p.suffix == ".sql" for n in replaced_versions(s)}
    applied = {version_name(name) for name in recorded}
    steps = []
    for path, source in sources.items():
        checksum = hashlib.sha256(source.encode()).hexdigest()
        if path.name in recorded:
            if recorded[path.name] != checksum:
                raise RuntimeError(f"migration {path.name} changed after it was applied")
            continue
        if version_name(path.name) in superseded:
            continue  # a baseline in the same folder stands for it
        replaced = replaced_versions(source) if path.suffix == ".sql" else []
        missing = [name for name in replaced if name not in applied]
        if replaced and missing and len(missing) < len(replaced):
            raise RuntimeError(
                f"migration {path.name} replaces {len(replaced)} migrations of which this "
                f"database lacks {', '.join(missing)}: upgrade with a release that still "
                "has them first (it applies them), then with this one"
            )
        steps.append(Step(path, source, checksum, run=not replaced or bool(missing)))
    return steps


def sql_statements(source: str) -> list[str]:
    """Split SQL text at its top-level semicolons, minding quotes, dollar quotes and comments."""
    statements: list[str] = []
    start = i = 0
    n = len(source)
    while i < n:
        c = source[i]
        if c == "-" and source.startswith("--", i):
            i = _line_end(source, i)
        elif c == "/" and source.startswith("/*", i):
            i = _block_comment_end(source, i)
        elif c in "'\"":
            i = _quote_end(source, i, c)
        elif c == "$" and (tag := _dollar_tag(source, i)) is not None:
            end = source.find(tag, i + len(tag))
            i = n if end < 0 else end + len(tag)
        elif c == ";":
            statements.append(source[start:i])
            start = i = i + 1
        else:
            i += 1
    statements.append(source[start:])
    return [s.strip() for s in statements if _has_code(s)]


def _line_end(source: str, i: int) -> int:
    end = source.find("\n", i)
    return len(source) if end < 0 else end + 1


def _block_comment_end(source: str, i: int) -> int:
    depth, i = 1, i + 2  # PostgreSQL's block comments nest
    while i < len(source) and depth:
        if source.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif source.startswith("*/", i):
            depth, i = depth - 1, i + 2
        else:
            i += 1
    return i


def _quote_end(source: str, i: int, quote: str) -> int:
    escapes = quote == "'" and i > 0 and source[i - 1] in "eE"
    i += 1
    while i < len(source):
        if escapes and source[i] == "\\":
            i += 2
        elif source[i] == quote:
            if source.startswith(quote * 2, i):
                i += 2  # a doubled quote stands for itself
            else:
                return i + 1
        else:
            i += 1
    return i


def _dollar_tag(source: str, i: int) -> str | None:
    """The `$tag$` opening a dollar-quoted string at i, if one does (not `$1`)."""
    end = source.find("$", i + 1)
    if end < 0:
        return None
    tag = source[i + 1 : end]
    if tag and not (tag[0].isalpha() or tag[0] == "_"):
        return None
    if not all(ch.isalnum() or ch == "_" for ch in tag):
        return None
    return source[i : end + 1]


def _has_code(statement: str) -> bool:
    i = 0
    while i < len(statement):
        if statement.startswith("--", i):
            i = _line_end(statement, i)
        elif statement.startswith("/*", i):
            i = _block_comment_end(statement, i)
        elif statement[i].isspace():
            i += 1
        else:
            return True
    return False


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def build_partitioned_index(
    conn: Connection, *, table: str, index: str, definition: str
) -> None:
    """Create index `index` on partitioned `table` without holding its writers.

    `definition` is what follows `ON <table>` in CREATE INDEX (columns, INCLUDE, WHERE).
    The parent index is made first on the parent alone (invalid, and instant); then each
    partition's index is built CONCURRENTLY and attached; the parent turns valid when the
    last one is. Partitions made meanwhile get theirs from the parent. Safe to run again:
    attached partitions are skipped and a build left invalid by a crash is made anew.
    """
    await conn.execute(
        f"CREATE INDEX IF NOT EXISTS {quote_ident(index)} ON ONLY {quote_ident(table)} "
        + definition
    )
    partitions = await conn.fetch(
        """SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = $1::regclass ORDER BY c.relname""",
        quote_ident(table),
    )
    for row in partitions:
        partition: str = row["relname"]
        try:
            await _index_partition(conn, index, partition, definition)
        except asyncpg.UndefinedTableError:
            continue  # dropped by retention meanwhile


def partition_index_name(index: str, partition: str) -> str:
    """The name of a partition's part of `index`, within the 63 bytes of a name."""
    digest = hashlib.sha256(f"{index}.{partition}".encode()).hexdigest()[:8]
    return f"{partition[:40]}_{index[:12]}_{digest}"


async def _index_partition(conn: Connection, index: str, partition: str, definition: str) -> None:
    attached = await conn.fetchval(
        """SELECT count(*) FROM pg_inherits i JOIN pg_index x ON x.indexrelid = i.inhrelid
           WHERE i.inhparent = $1::regclass AND x.indrelid = $2::regclass""",
        quote_ident(index),
        quote_ident(partition),
    )
    if attached:
        return
    child = partition_index_name(index, partition)
    valid = await conn.fetchval(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)", quote_ident(child)
    )
    if valid is False:  # a build that stopped half-way leaves an invalid index behind
        await conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {quote_ident(child)}")
    await conn.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {quote_ident(child)} "
        f"ON {quote_ident(partition)} {definition}"
    )
    await conn.execute(f"ALTER INDEX {quote_ident(index)} ATTACH PARTITION {quote_ident(child)}")
