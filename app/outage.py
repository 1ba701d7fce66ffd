"""PostgreSQL or Redis out of reach: 503 with Retry-After and the JSON error shape.

An outage is an expected condition, not a bug: it is logged as one line (which server,
which request, what failed), without a traceback, and the client is told when to come
back. Any route can meet one, authentication of an unknown key included (it reads
PostgreSQL).
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from types import TracebackType

import asyncpg
import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from app.errors import error_body

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 5

# Errors that mean the server is gone, restarting or full, never that the request is bad.
# Other PostgreSQL errors (constraints, a cancelled statement) keep their own handler.
POSTGRES_DOWN: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,  # class 08, and a connection lost mid-query
    asyncpg.CannotConnectNowError,  # starting up or shutting down
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
)
REDIS_DOWN: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,  # BusyLoadingError included
    redis.exceptions.TimeoutError,
)
# The socket layer: refused, reset, unreachable, unresolvable host, connect timeout.
NETWORK_ERRORS = (ConnectionError, TimeoutError, socket.gaierror)

_PACKAGES = {"asyncpg": "PostgreSQL", "redis": "Redis"}


def _server_in(traceback: TracebackType | None) -> str | None:
    """The server whose client library raised the error, read from the traceback."""
    found = None
    while traceback is not None:
        parts = Path(traceback.tb_frame.f_code.co_filename).parts
        for package, server in _PACKAGES.items():
            if package in parts:
                found = server
        traceback = traceback.tb_next
    return found


def server_down(exc: BaseException) -> str | None:
    """'PostgreSQL' or 'Redis' when `exc` means that server is out of reach, else None."""
    if isinstance(exc, POSTGRES_DOWN):
        return "PostgreSQL"
    if isinstance(exc, REDIS_DOWN):
        return "Redis"
    if isinstance(exc, OSError):
        server = _server_in(exc.__traceback__)
        if server is not None:
            return server
        # A bare socket error outside both client libraries still means a lost peer.
        return "a server" if isinstance(exc, NETWORK_ERRORS) else None
    return None


def unavailable(server: str) -> JSONResponse:
    response = JSONResponse(
        error_body("unavailable", f"{server} is out of reach; try again shortly"),
        status_code=503,
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


async def _outage(request: Request, exc: Exception) -> JSONResponse:
    server = server_down(exc)
    if server is None:
        # An OSError of another kind (a file, say) is a real fault: a 500 with its trace.
        logger.error("unhandled error", exc_info=exc)
        return JSONResponse(error_body("internal_error", "internal error"), status_code=500)
    detail = str(exc) or type(exc).__name__
    logger.warning(
        "%s out of reach, %s %s answered 503: %s: %s",
        server,
        request.method,
        request.url.path,
        type(exc).__name__,
        detail.splitlines()[0][:300],
    )
    return unavailable(server)


class _WithoutTraceback(logging.Filter):
    """Keep a client library's line about an outage, drop its traceback.

    asyncpg's pool logs each failed try to restore its floor of connections with one,
    for as long as PostgreSQL is down.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and server_down(exc) is not None:
            record.msg = f"{record.getMessage()}: {type(exc).__name__}: {exc}"
            record.args = None
            record.exc_info = record.exc_text = None
        return True


def quiet_client_logs() -> None:
    """Install the filter above on the client libraries' loggers (once per process)."""
    for name in ("asyncpg.pool", "asyncpg.connection"):
        client_logger = logging.getLogger(name)
        if not any(isinstance(f, _WithoutTraceback) for f in client_logger.filters):
            client_logger.addFilter(_WithoutTraceback())


def install_handlers(app: FastAPI) -> None:
    """Handlers for the outage errors; more specific than the generic ones, so they win."""
    for kind in (*POSTGRES_DOWN, *REDIS_DOWN, OSError):
        app.add_exception_handler(kind, _outage)
