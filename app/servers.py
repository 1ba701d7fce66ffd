"""Whether PostgreSQL and Redis answer, told in one line when they do not.

Commands check the servers they need before they start, so a wrong `DATABASE_URL` or
`REDIS_URL` reads as `cannot reach PostgreSQL at postgresql://app:***@db:5432/app
(DATABASE_URL): connection refused`, not as a traceback that never names the address.
"""

from __future__ import annotations

import re
import socket
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
from redis.exceptions import RedisError

from app.redis import create_redis

CONNECT_TIMEOUT_S = 5.0
_SECRET_PARAMS = {"password", "pass", "passwd", "sslpassword"}


class Unreachable(Exception):
    """A server did not answer; the message names it, its address and what failed."""


def redact(url: str) -> str:
    """The URL with its password (in the user part or the query) replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<an unreadable URL>"
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if at:
        user, colon, _ = userinfo.partition(":")
        userinfo = f"{user}:***" if colon else user
    netloc = f"{userinfo}{at}{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(name.lower() in _SECRET_PARAMS for name, _ in pairs):
            pairs = [(n, "***" if n.lower() in _SECRET_PARAMS else v) for n, v in pairs]
            query = urlencode(pairs, safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _secrets(url: str) -> list[str]:
    try:
        parts = urlsplit(url)
        pairs = parse_qsl(parts.query)
    except ValueError:
        return []
    found = [v for n, v in pairs if n.lower() in _SECRET_PARAMS and v]
    if parts.password:
        found.append(parts.password)
    return found


def _os_error(exc: BaseException) -> OSError | None:
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def reason(exc: BaseException, *, timeout: float = CONNECT_TIMEOUT_S) -> str:
    """What failed, in words, without the traceback."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, OverflowError | ValueError) and not isinstance(exc, RedisError):
        return f"the URL is not valid ({exc})"
    os_error = _os_error(exc)
    if isinstance(os_error, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(os_error, ConnectionRefusedError):
        return "connection refused (is the server running, and on this port?)"
    if isinstance(os_error, socket.gaierror):
        return f"host name not found ({os_error.strerror})"
    if os_error is not None:
        return os_error.strerror or str(os_error) or type(os_error).__name__
    return str(exc) or type(exc).__name__


def unreachable(server: str, variable: str, url: str, exc: BaseException) -> Unreachable:
    message = reason(exc)
    for secret in _secrets(url):
        # Whole tokens only: a password "b" must not turn "be" into "***e".
        message = re.sub(rf"(?<![\w]){re.escape(secret)}(?![\w])", "***", message)
    return Unreachable(f"cannot reach {server} at {redact(url)} ({variable}): {message}")


def _read_port(url: str) -> None:
    # A driver may try other addresses after a bad port and report their failure instead.
    port = urlsplit(url).port
    if port == 0:
        raise ValueError("port 0 is not a server's port")


async def check_postgres(url: str) -> None:
    try:
        _read_port(url)
        conn = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT_S)
    except Exception as exc:
        raise unreachable("PostgreSQL", "DATABASE_URL", url, exc) from None
    try:
        await conn.fetchval("SELECT 1")
    finally:
        await conn.close()


async def check_redis(url: str) -> None:
    try:
        _read_port(url)
        redis = create_redis(url)
    except Exception as exc:
        raise unreachable("Redis", "REDIS_URL", url, exc) from None
    try:
        await redis.ping()
    except Exception as exc:
        raise unreachable("Redis", "REDIS_URL", url, exc) from None
    finally:
        await redis.aclose()


async def check(database_url: str | None, redis_url: str | None) -> None:
    """Each server whose URL is given answers, or Unreachable names the first that does not."""
    if database_url is not None:
        await check_postgres(database_url)
    if redis_url is not None:
        await check_redis(redis_url)
