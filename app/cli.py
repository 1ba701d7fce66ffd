"""`tracker`: the commands humans and process managers run."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from app.cli_stats import stats_cli
from app.cli_support import (
    CLI_OPTIONS,
    _check_servers,
    _fail,
    _ready_settings,
    _run,
    _run_until_signal,
    _settings,
)
from app.settings import Settings

cli = typer.Typer(
    help="Self-hosted click tracking and attribution for affiliate programs.",
    add_completion=False,
    **CLI_OPTIONS,
)
cli.add_typer(stats_cli, name="stats")

HostOpt = Annotated[str, typer.Option(help="Address to listen on")]
PortOpt = Annotated[int, typer.Option(help="Port to listen on")]
BurstOpt = Annotated[bool, typer.Option("--burst", help="Run until the queue is empty, then exit")]


@cli.command()
def serve(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    workers: Annotated[int, typer.Option(help="Web processes (SO_REUSEPORT)")] = 1,
) -> None:
    """Run the web app: tracking links, postbacks and the API."""
    import uvicorn

    from app.edge.front import FrontProtocol

    settings = _ready_settings()
    # The app factory reads the environment (in each worker process): pass the URLs on.
    os.environ["DATABASE_URL"], os.environ["REDIS_URL"] = settings.require_urls()
    uvicorn.run(
        "app.main:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        # Tracking links on a protocol of our own; anything else on uvicorn's (app.edge).
        http=FrontProtocol,
        access_log=False,
        # X-Forwarded-For is trusted only from configured proxies, in the app itself.
        proxy_headers=False,
        server_header=False,
        log_level=settings.log_level.lower(),
    )


@cli.command()
def worker(burst: BurstOpt = False) -> None:
    """Move clicks and conversions from the streams to PostgreSQL."""
    from app import worker as stream_worker

    settings = _ready_settings()
    _run_until_signal(lambda stop: stream_worker.run(settings, burst=burst, stop=stop))


@cli.command()
def sender(
    burst: BurstOpt = False,
    processes: Annotated[
        int, typer.Option(min=1, help="Sender processes (they share the outbox, each a core)")
    ] = 1,
) -> None:
    """Deliver postbacks, webhooks and the e-mail outbox."""
    from app.sender import service as sender_service

    settings = _ready_settings()
    if processes > 1:
        _run_processes(["sender", *(["--burst"] if burst else [])], processes)
    _run_until_signal(lambda stop: sender_service.run(settings, burst=burst, stop=stop))


def _run_processes(args: list[str], count: int) -> None:
    """`count` processes of `tracker <args>` until a signal stops them (or they are all
    done); exits with the first failure's code."""
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    children = [_spawn(args, dict(os.environ)) for _ in range(count)]
    try:
        while not stopping and any(child.poll() is None for child in children):
            time.sleep(0.2)
    finally:
        _stop_children(children)
    raise typer.Exit(next((c.returncode for c in children if c.returncode), 0))


@cli.command("catcher")
def catcher(
    folder: Annotated[Path, typer.Option(help="Where to keep the .eml files")],
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 2525,
) -> None:
    """A local SMTP server keeping every message as a .eml file.

    `tracker dev` runs it when SMTP_URL is unset."""
    from app.mail import catcher

    _settings()
    _run_until_signal(lambda stop: catcher.run(folder, host, port, stop))


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


async def _migrate(database_url: str) -> list[str]:
    import asyncpg

    from app import db

    conn = await asyncpg.connect(database_url)
    try:
        return await db.migrate(conn)
    finally:
        await conn.close()


@cli.command()
def migrate() -> None:
    """Apply pending migrations (running it twice changes nothing)."""
    settings = _ready_settings(redis=False)
    database_url, _ = settings.require_urls()
    applied = _run(lambda: _migrate(database_url))
    typer.echo(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")


async def _seal_secrets(settings: Settings) -> dict[str, int]:
    import asyncpg

    from app import seal_secrets, sealing

    database_url, _ = settings.require_urls()
    conn = await asyncpg.connect(database_url)
    try:
        # The key must open what is sealed already: no second key slips in.
        sealer = await sealing.open_sealer(settings=settings, conn=conn, kinds=seal_secrets.KINDS)
        if sealer is None:
            raise _fail("DATA_KEY is not set: there is no key to seal with")
        return await seal_secrets.seal_stored(conn, sealer)
    finally:
        await conn.close()


@cli.command("seal-secrets")
def seal_secrets_command() -> None:
    """Seal webhook secrets and CRM keys stored unsealed.

    Running it twice changes nothing; it is safe while the app runs."""
    settings = _ready_settings(redis=False)
    sealed = _run(lambda: _seal_secrets(settings))
    typer.echo(", ".join(f"{table}: {n} sealed" for table, n in sealed.items()))


async def _seed(settings: Settings, extra: list[str] | None = None) -> str:
    import asyncpg

    from app import seed as demo

    database_url, _ = settings.require_urls()
    conn = await asyncpg.connect(database_url)
    try:
        from app import db

        await db.migrate(conn)
        return demo.banner(await demo.seed_demo(conn, settings), extra=extra or [])
    finally:
        await conn.close()


@cli.command()
def seed() -> None:
    """Create the demo catalog (once) and print its links and keys."""
    settings = _ready_settings(redis=False)
    typer.echo(_run(lambda: _seed(settings)))


def _die_with_parent() -> None:
    # Children of `tracker dev` must not outlive it, even if it is SIGKILLed.
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )


def _wait_for_port(host: str, port: int, web: subprocess.Popen[bytes]) -> None:
    """Until the web process accepts connections, so the printed links work at once."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and web.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.1)


def _stop_children(children: list[subprocess.Popen[bytes]], timeout: float = 15.0) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@cli.command()
def dev(host: HostOpt = "127.0.0.1", port: PortOpt = 8000) -> None:
    """Run everything (web, worker, sender) with a seeded demo.

    Starts an embedded PostgreSQL and Redis under TRACKER_DATA_DIR unless DATABASE_URL
    and REDIS_URL are set, and a local SMTP catcher unless SMTP_URL is set.
    """
    from app import embedded

    settings = _settings()
    if settings.environment == "production":
        raise _fail("`tracker dev` is for development; run serve, worker and sender instead")
    env = dict(os.environ)
    servers = None
    if not settings.database_url or not settings.redis_url:
        typer.echo(f"Starting embedded PostgreSQL and Redis in {settings.tracker_data_dir} ...")
        try:
            servers = embedded.start(settings.tracker_data_dir)
        except embedded.EmbeddedError as exc:
            raise _fail(str(exc)) from None
        env["DATABASE_URL"] = settings.database_url or servers.database_url
        env["REDIS_URL"] = settings.redis_url or servers.redis_url
        if not settings.database_url:
            embedded.use_postgres_time_zones(env)
    if settings.public_url == Settings.model_fields["public_url"].default:
        env["PUBLIC_URL"] = f"http://{host}:{port}"
    env["MIGRATE_ON_START"] = "false"
    mail_lines: list[str] = []
    catcher_args: list[str] = []
    if not settings.smtp_url:
        # No mail server: a local catcher takes the mail, kept as files and shown at
        # /dev/mail, so a new user sees every message the program sends.
        mail_dir = (settings.tracker_data_dir / "mail").resolve()
        mail_port = _free_port(host)
        env["SMTP_URL"] = f"smtp://{host}:{mail_port}?starttls=0"
        env["DEV_MAIL_DIR"] = str(mail_dir)
        catcher_args = ["catcher", "--folder", str(mail_dir), "--host", host]
        catcher_args += ["--port", str(mail_port)]
        mail_lines = [
            f"  Mail:           http://{host}:{port}/dev/mail (caught by a local SMTP server",
            f"                  on {host}:{mail_port}; files in {mail_dir})",
        ]
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    code = 0
    try:
        child_settings = Settings(
            database_url=env["DATABASE_URL"],
            redis_url=env["REDIS_URL"],
            public_url=env.get("PUBLIC_URL", settings.public_url),
        )
        _check_servers(child_settings)
        banner = _run(lambda: _seed(child_settings, mail_lines))
        children = [
            _spawn(["serve", "--host", host, "--port", str(port)], env),
            _spawn(["worker"], env),
            _spawn(["sender"], env),
        ]
        if catcher_args:
            children.append(_spawn(catcher_args, env))
        _wait_for_port(host, port, children[0])
        typer.echo(banner)
        while not stopping:
            for child in children:
                if child.poll() is not None:
                    typer.secho(
                        f"a child process exited with {child.returncode}; stopping",
                        fg=typer.colors.RED,
                        err=True,
                    )
                    stopping, code = True, 1
            time.sleep(0.2)
    finally:
        typer.echo("Stopping ...")
        _stop_children(children)
        if servers is not None:
            servers.stop()
        typer.echo("Stopped.")
    raise typer.Exit(code)


def main() -> None:
    cli(prog_name="tracker")


if __name__ == "__main__":
    main()
