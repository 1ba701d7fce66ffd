"""One error family, rendered everywhere as {"error": {"code", "message"}}."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, TypeVar

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

T = TypeVar("T")
logger = logging.getLogger(__name__)


class AppError(Exception):
    status = 400
    code = "bad_request"

    # An error kind is its status and code: `class Gone(AppError, status=410, code="gone")`.
    def __init_subclass__(cls, *, status: int | None = None, code: str | None = None) -> None:
        super().__init_subclass__()
        if status is not None:
            cls.status = status
        if code is not None:
            cls.code = code

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = headers


class BadRequest(AppError):
    pass


class Unauthorized(AppError, status=401, code="unauthorized"):
    def __init__(self, message: str = "a valid API key is required") -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError, status=403, code="forbidden"): ...


class NotFound(AppError, status=404, code="not_found"): ...


def found(value: T | None, what: str, key: object) -> T:
    """The value looked up by `key`, or 404: "{what} {key} does not exist"."""
    if value is None:
        raise NotFound(f"{what} {key} does not exist")
    return value


class Conflict(AppError, status=409, code="conflict"): ...


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def _json(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse(error_body(code, message, **extra), status_code=status)


def _where(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def first_problem(exc: Any) -> str:
    """The first problem of a pydantic ValidationError, as "field: message" (for pages,
    which show one line where the API lists every field)."""
    first = exc.errors()[0]
    return f"{_where(tuple(first.get('loc', ())))}: {_problem(first)}"


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    response = _json(exc.status, exc.code, exc.message)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def _problem(error: Any) -> str:
    # pydantic prefixes a validator's own words ("Value error, a percent rule must ...").
    message = str(error.get("msg", "invalid"))
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def problems(errors: Sequence[Any]) -> list[dict[str, str]]:
    """Validation errors (pydantic's) as the API states them: each a `field` (a dotted
    path such as `goals.0.payout.value`, `body` for the whole) and its `message`."""
    return [{"field": _where(tuple(e.get("loc", ()))), "message": _problem(e)} for e in errors]


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    stated = problems(exc.errors())
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        return _json(400, "invalid_json", "the request body is not valid JSON")
    first = stated[0] if stated else {"field": "body", "message": "invalid"}
    return _json(400, "invalid_request", f"{first['field']}: {first['message']}", details=stated)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 413: "too_large"}
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    response = _json(exc.status_code, codes.get(exc.status_code, "http_error"), message)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _db_error(_: Request, exc: Exception) -> JSONResponse:
    # Constraints are the last line of defence; services check first, so these are rare.
    if isinstance(exc, asyncpg.UniqueViolationError):
        return _json(409, "conflict", "a resource with these values already exists")
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        return _json(409, "invalid_reference", "a referenced resource does not exist")
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError | asyncpg.DataError):
        return _json(400, "invalid_request", "a value is out of range or not allowed")
    return await _unexpected(_, exc)


async def _overflow(_: Request, exc: Exception) -> JSONResponse:
    # Only extreme input overflows (dates at year 9999, huge exponents): a client error.
    return _json(400, "invalid_request", "a value is out of range")


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", exc_info=exc)
    return _json(500, "internal_error", "internal error")


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(asyncpg.PostgresError, _db_error)
    app.add_exception_handler(OverflowError, _overflow)
    app.add_exception_handler(Exception, _unexpected)
