"""What every `tracker` command shares: typer's options, settings, the servers check."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import typer

from app.settings import Settings

# Plain help: typer's rich panels show every flag as taking a value (`--burst <bool>`).
# No locals in tracebacks: they would print the servers' URLs with their passwords.
CLI_OPTIONS: dict[str, Any] = {
    "no_args_is_help": True,
    "rich_markup_mode": None,
    "pretty_exceptions_show_locals": False,
}
T = TypeVar("T")


def setup_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


def _settings() -> Settings:
    settings = Settings()
    setup_logging(settings)
    return settings


def _server_settings() -> Settings:
    """Settings for a command that needs the servers: the URLs from the environment, or
    those of the embedded servers a `tracker dev` is running on the same data folder."""
    settings = _settings()
    if not settings.database_url or not settings.redis_url:
        from app import embedded

        running = embedded.running_urls(settings.tracker_data_dir)
        if running is not None:
            settings = settings.model_copy(
                update={
                    "database_url": settings.database_url or running[0],
                    "redis_url": settings.redis_url or running[1],
                }
            )
    try:
        settings.require_urls()
    except RuntimeError as exc:
        raise _fail(str(exc)) from None
    return settings


def _run(main: Callable[[], Coroutine[object, object, T]]) -> T:
    import uvloop

    return uvloop.run(main())


def _run_until_signal(main: Callable[[asyncio.Event], Coroutine[object, object, object]]) -> None:
    """Run a long-running process's `main(stop)`; SIGTERM or SIGINT sets `stop`, and the
    process finishes the work in hand, then exits."""
    from app.signals import stop_on_signals

    async def until_signal() -> None:
        stop = asyncio.Event()
        stop_on_signals(stop)
        await main(stop)

    _run(until_signal)


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def _check_servers(settings: Settings, *, redis: bool = True) -> None:
    """PostgreSQL (and Redis) answer, or the command ends with one line naming the URL."""
    from app import servers

    database_url, redis_url = settings.require_urls()
    try:
        _run(lambda: servers.check(database_url, redis_url if redis else None))
    except servers.Unreachable as exc:
        raise _fail(str(exc)) from None


def _ready_settings(*, redis: bool = True) -> Settings:
    """The servers' settings (`_server_settings`), once PostgreSQL (and Redis) answer."""
    settings = _server_settings()
    _check_servers(settings, redis=redis)
    return settings
