"""The local spool: where records go when Redis cannot take them within the budget.

Records are appended length-prefixed to a file of this process, and one fsync (in a
thread) covers every record queued meanwhile: group commit again. A replay task moves
spooled records into the stream once Redis answers and deletes a spool file only after
Redis acknowledged all of it. A crash mid-replay replays the file again; chunks Redis
already took are skipped (StreamProducer.send_now), and the sinks dedupe on click_id
anyway.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import struct
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from app.processes import pid_alive
from app.streams.batching import GroupCommit

logger = logging.getLogger(__name__)

_LENGTH = struct.Struct(">I")
REPLAY_CHUNK = 500


def read_records(path: Path) -> Iterator[bytes]:
    """Records of a spool file; a torn last record (crash mid-append) is skipped."""
    data = path.read_bytes()
    offset = 0
    while offset + _LENGTH.size <= len(data):
        (size,) = _LENGTH.unpack_from(data, offset)
        start = offset + _LENGTH.size
        if start + size > len(data):
            logger.warning("spool %s ends in a torn record; skipping it", path)
            return
        yield data[start : start + size]
        offset = start + size


class Spool:
    def __init__(self, directory: Path, name: str) -> None:
        self._dir = directory
        self._name = name
        self._fd: int | None = None
        self._writing = False
        self._batcher: GroupCommit[bytes, None] = GroupCommit(
            self._write_batch, max_batch=10_000, name="spool-writer"
        )

    @property
    def path(self) -> Path:
        return self._dir / f"{self._name}-{os.getpid()}.spool"

    def start(self) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        self._batcher.start()

    async def stop(self) -> None:
        await self._batcher.stop()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def append(self, record: bytes) -> asyncio.Future[None]:
        """Queue a record; the future completes once it is fsync'd to disk."""
        return self._batcher.submit(record)

    async def _write_batch(self, records: list[bytes]) -> list[None]:
        self._writing = True
        try:
            await asyncio.to_thread(self._write, records)
        finally:
            self._writing = False
        return [None] * len(records)

    def _write(self, records: list[bytes]) -> None:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.write(self._fd, b"".join(_LENGTH.pack(len(r)) + r for r in records))
        os.fsync(self._fd)

    def has_files(self) -> bool:
        return any(self._dir.glob(f"{self._name}-*.spool*"))

    def _claimable(self) -> list[Path]:
        """Closed spool files: rotated ones, and active ones of dead processes.

        The active file of a live process is never read: it may be mid-append.
        """
        files: list[Path] = []
        for path in sorted(self._dir.glob(f"{self._name}-*.spool*")):
            if path.suffix != ".spool":
                files.append(path)
                continue
            pid = int(path.stem.rsplit("-", 1)[1]) if path.stem.rsplit("-", 1)[1].isdigit() else 0
            if pid == os.getpid():
                if self._writing or self._fd is None:
                    continue
                os.close(self._fd)
                self._fd = None
            elif pid and pid_alive(pid):
                continue
            rotated = path.with_name(f"{path.name}.{os.urandom(4).hex()}")
            try:
                path.rename(rotated)
            except FileNotFoundError:  # another replayer took it
                continue
            files.append(rotated)
        return files

    async def replay(self, send: Callable[[str, list[bytes]], Awaitable[int]]) -> int:
        """Send every closed spool file's records with `send`, chunk by chunk, then delete
        the file.

        `send` gets a name unique to each chunk (file name and index) with its records,
        so that it can take a chunk only once: a replay that crashed before deleting its
        file sends it again. A file is claimed with a non-blocking flock, so concurrent
        replayers (several web processes) never send the same file at once. Returns the
        records `send` took.
        """
        sent = 0
        for path in self._claimable():
            with path.open("rb") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                if not path.exists():
                    continue
                records = list(read_records(path))
                for i in range(0, len(records), REPLAY_CHUNK):
                    sent += await send(f"{path.name}:{i}", records[i : i + REPLAY_CHUNK])
                path.unlink()
        return sent
