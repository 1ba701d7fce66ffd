"""The system account the embedded PostgreSQL runs as when we are root, and the file
modes that let it read its binaries and reach its data folder."""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
from pathlib import Path

PG_SYSTEM_USER = "tracker_pg"


def ensure() -> tuple[int, int] | None:
    """PostgreSQL refuses to run as root: as root, run it as a dedicated system user."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                PG_SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    return entry.pw_uid, entry.pw_gid


def make_traversable(path: Path) -> None:
    """Let the PostgreSQL system user reach `path` (o+x on every parent folder)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def make_readable_tree(root: Path) -> None:
    for dirpath, _dirs, files in os.walk(root):
        Path(dirpath).chmod(Path(dirpath).stat().st_mode | 0o055)
        for name in files:
            file = Path(dirpath) / name
            file.chmod(file.stat().st_mode | 0o044 | (0o011 if file.stat().st_mode & 0o100 else 0))
