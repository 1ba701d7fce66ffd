"""Erasure in this host's spool files (app.streams.spool), which the web processes append
to while Redis is out of reach and replay from once it answers.

Each erased record is written over the old one in its place, padded with JSON whitespace
to the same length, so the file's other records, its length and the count of records in
it (`in_spool` of the reconciliation) stay as they were, and a web process appending to
its active file meanwhile is not disturbed (it writes past the end; this writes before).
A file is rewritten under an exclusive flock: the replayer takes the same lock (without
waiting) before it reads a file and keeps it until the file is deleted, so a file is
either erased before it is replayed, or was replayed already (then its records are in the
stream, which is erased next) and is gone. Files renamed meanwhile (a replayer claims a
file by renaming it) are found by looking again until no unseen file is left.

An erased record longer than the old one (a click with almost nothing personal in it, so
there is little room for its enrichment; a conversion whose external customer ID is
shorter than the digits of the customer's own ID) cannot be written in place: a closed file is
then written anew and renamed over the old one; a file a live process appends to is
refused with a 409, to be tried again once that process has rotated it.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import struct
from pathlib import Path

from redis.asyncio import Redis

from app.errors import Conflict
from app.privacy import records
from app.privacy.kinds import RecordKind
from app.privacy.subject import Subject
from app.processes import pid_alive

_LENGTH = struct.Struct(">I")


def _records(data: bytes) -> list[tuple[int, bytes]]:
    """(offset of the record's bytes, record) of each whole record in a spool file."""
    found: list[tuple[int, bytes]] = []
    offset = 0
    while offset + _LENGTH.size <= len(data):
        (size,) = _LENGTH.unpack_from(data, offset)
        start = offset + _LENGTH.size
        if start + size > len(data):
            break  # torn: being appended right now, or cut by a crash
        found.append((start, data[start : start + size]))
        offset = start + size
    return found


def _appended_to(path: Path) -> bool:
    """Whether a live process may still append to this file (its active spool file)."""
    if path.suffix != ".spool":
        return False
    pid = path.stem.rsplit("-", 1)[-1]
    return pid.isdigit() and pid_alive(int(pid))


def _lock(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_EX)


def _write_in_place(fd: int, changes: list[tuple[int, bytes]]) -> None:
    for offset, data in changes:
        os.pwrite(fd, data, offset)
    os.fsync(fd)


def _write_anew(path: Path, data: bytes, changes: list[tuple[int, int, bytes]]) -> None:
    """The file with each (offset, old size, record) replaced, length prefixes included."""
    out, last = bytearray(), 0
    for offset, size, record in sorted(changes):
        out += data[last : offset - _LENGTH.size] + _LENGTH.pack(len(record)) + record
        last = offset + size
    out += data[last:]
    # A name the spool's own glob (`<stream>-*.spool*`) cannot see: never replayed, never
    # counted as spooled.
    tmp = path.with_name(f".{path.name}.erasing")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, bytes(out))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


async def _erase_file(redis: Redis, path: Path, subject: Subject, kind: RecordKind) -> int:
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return 0  # replayed and deleted, or renamed: looked for again by its new name
    try:
        await asyncio.to_thread(_lock, fd)
        if os.fstat(fd).st_nlink == 0:
            return 0  # replayed meanwhile: its records are in the stream now
        data = await asyncio.to_thread(_read_all, fd)
        found = [(o, r) for o, r in _records(data) if kind.wants_erasure(subject, r)]
        if not found:
            return 0
        erased = await kind.erase(redis, subject, [r for _, r in found])
        fitted = [
            records.padded(new, len(old)) for (_, old), new in zip(found, erased, strict=True)
        ]
        if all(f is not None for f in fitted):
            changes = [(o, f) for (o, _), f in zip(found, fitted, strict=True) if f is not None]
            await asyncio.to_thread(_write_in_place, fd, changes)
        elif _appended_to(path):
            raise Conflict(
                f"a record in the active spool file {path.name} cannot be erased in place; "
                "retry once that web process has replayed its spool",
                code="spool_busy",
            )
        else:
            whole = [(o, len(old), new) for (o, old), new in zip(found, erased, strict=True)]
            await asyncio.to_thread(_write_anew, path, data, whole)
        return len(found)
    finally:
        os.close(fd)  # releases the lock


def _files(directory: Path, stream: str) -> list[Path]:
    return sorted(directory.glob(f"{stream}-*.spool*")) if directory.exists() else []


def _read_all(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    return os.pread(fd, size, 0)


async def erase_spool(redis: Redis, directory: Path, subject: Subject, kind: RecordKind) -> int:
    """Erase the subject's records in every spool file of the kind's stream here; the count."""
    seen: set[str] = set()
    erased = 0
    while True:
        listed = await asyncio.to_thread(_files, directory, kind.name)
        fresh = [p for p in listed if p.name not in seen]
        if not fresh:
            return erased
        for path in fresh:
            seen.add(path.name)
            erased += await _erase_file(redis, path, subject, kind)
