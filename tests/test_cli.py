"""The `tracker` command as a person runs it: real processes, real servers."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

PASSWORD = "s3cret-Pa55"


async def tracker(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), 40)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound, never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.mark.parametrize("command", [["worker"], ["sender"]])
async def test_flags_read_as_flags_in_the_help(command: list[str]) -> None:
    code, out, _ = await tracker(*command, "--help")

    assert code == 0
    assert "<bool>" not in out
    assert re.search(r"^\s+--burst\s+Run until the queue is empty", out, re.MULTILINE)
    assert re.search(r"^\s+--help\s+Show this message and exit", out, re.MULTILINE)


async def test_options_with_values_show_their_type_in_the_help() -> None:
    code, out, _ = await tracker("serve", "--help")

    assert code == 0
    assert out.startswith("Usage: tracker serve [OPTIONS]")
    assert re.search(r"^\s+--port <int>\s+Port to listen on", out, re.MULTILINE)
    assert re.search(r"^\s+--help\s+Show this message and exit", out, re.MULTILINE)
    code, out, _ = await tracker("--help")
    assert code == 0
    assert "<bool>" not in out
    # Each command's summary is whole, not cut off with "...".
    assert "Move clicks and conversions from the streams to PostgreSQL." in out
    assert "..." not in out.partition("Commands:")[2]


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    "command",
    [
        ["migrate"],
        ["seed"],
        ["serve", "--port", "0"],
        ["worker"],
        ["sender"],
        ["stats", "pipeline"],
    ],
)
async def test_an_unreachable_postgresql_is_one_line_naming_it(
    command: list[str], closed_port: int, server_urls: tuple[str, str], tmp_path: Path
) -> None:
    database_url = f"postgresql://tracker:{PASSWORD}@127.0.0.1:{closed_port}/tracker"
    code, out, err = await tracker(
        *command,
        env={
            "DATABASE_URL": database_url,
            "REDIS_URL": server_urls[1],
            "TRACKER_DATA_DIR": str(tmp_path),
        },
    )

    assert code == 1
    assert out == ""
    line = _one_line(err)
    assert line == (
        f"cannot reach PostgreSQL at postgresql://tracker:***@127.0.0.1:{closed_port}/tracker "
        "(DATABASE_URL): connection refused (is the server running, and on this port?)"
    )
    assert PASSWORD not in err


@pytest.mark.parametrize(
    "command", [["serve", "--port", "0"], ["worker"], ["sender"], ["stats", "pipeline"]]
)
async def test_an_unreachable_redis_is_one_line_naming_it(
    command: list[str], closed_port: int, database_url: str, tmp_path: Path
) -> None:
    code, out, err = await tracker(
        *command,
        env={
            "DATABASE_URL": database_url,
            "REDIS_URL": f"redis://:{PASSWORD}@127.0.0.1:{closed_port}/0",
            "TRACKER_DATA_DIR": str(tmp_path),
        },
    )

    assert code == 1
    assert out == ""
    line = _one_line(err)
    assert line == (
        f"cannot reach Redis at redis://:***@127.0.0.1:{closed_port}/0 (REDIS_URL): "
        "connection refused (is the server running, and on this port?)"
    )
    assert PASSWORD not in err


async def test_a_malformed_url_is_one_line_too(
    tmp_path: Path, server_urls: tuple[str, str]
) -> None:
    code, _, err = await tracker(
        "migrate",
        env={
            "DATABASE_URL": f"postgresql://tracker:{PASSWORD}@127.0.0.1:99999/tracker",
            "REDIS_URL": server_urls[1],
            "TRACKER_DATA_DIR": str(tmp_path),
        },
    )

    assert code == 1
    line = _one_line(err)
    assert line.startswith(
        "cannot reach PostgreSQL at postgresql://tracker:***@127.0.0.1:99999/tracker "
        "(DATABASE_URL): the URL is not valid"
    )
    assert PASSWORD not in err


async def test_migrate_still_works_with_reachable_servers(
    database_url: str, server_urls: tuple[str, str], tmp_path: Path
) -> None:
    code, out, err = await tracker(
        "migrate",
        env={
            "DATABASE_URL": database_url,
            "REDIS_URL": server_urls[1],
            "TRACKER_DATA_DIR": str(tmp_path),
        },
    )

    assert (code, err) == (0, "")
    assert out == "applied 0 migration(s): none pending\n"


async def _logged(process: asyncio.subprocess.Process, text: bytes) -> None:
    assert process.stderr is not None
    while text not in (line := await process.stderr.readline()):
        assert line, "the command ended before it was ready"


async def _stopped_by_sigterm(
    args: list[str],
    env: dict[str, str],
    ready: Callable[[asyncio.subprocess.Process], Awaitable[None]],
) -> int:
    """Start `tracker *args`, wait until `ready`, send SIGTERM: the command's exit code."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        *args,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "LOG_LEVEL": "info", **env},
    )
    try:
        async with asyncio.timeout(40):
            await ready(process)
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(40):
            assert process.stderr is not None
            await process.stderr.read()
            return await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_sigterm_stops_the_sender_after_the_work_in_hand(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "TRACKER_DATA_DIR": str(tmp_path),
        "MIGRATE_ON_START": "false",
    }

    async def started(process: asyncio.subprocess.Process) -> None:
        await _logged(process, b"sender started")

    assert await _stopped_by_sigterm(["sender"], env, started) == 0


async def test_sigterm_stops_the_mail_catcher(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def listening(process: asyncio.subprocess.Process) -> None:
        while True:
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            await writer.wait_closed()
            return

    args = ["catcher", "--folder", str(tmp_path), "--port", str(port)]
    assert await _stopped_by_sigterm(args, {}, listening) == 0
