"""POST /apply: anyone may ask to become an affiliate.

The answer is the same 202 whether or not the e-mail is registered already: a known
address creates nothing (and changes nothing), so the endpoint tells no one who is an
affiliate. Each client address (an IPv6 one by its /64) gets APPLY_RATE_PER_HOUR tries
per clock hour, counted in Redis for every web process; more get 429 with Retry-After.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson
from pydantic import Field, ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.requests import Request

from app.catalog.fields import Email, Input, Name
from app.db import Pool
from app.errors import AppError, BadRequest
from app.partners import queries
from app.partners.fields import Website
from app.partners.history import APPLY, Change, record
from app.redis import count_in_window

WINDOW_S = 3600
MAX_BODY = 65_536
ACCEPTED = {"status": "received"}


class ApplyIn(Input):
    name: Name
    email: Email
    website: Website | None = None
    traffic_sources: str | None = Field(default=None, max_length=2000)
    message: str | None = Field(default=None, max_length=5000)
    terms_version: str | None = Field(default=None, min_length=1, max_length=50)


def form_schema() -> dict[str, Any]:
    """ApplyIn as a form states it: no nulls, and a blank optional field is "not given"."""
    schema = ApplyIn.model_json_schema()
    for prop in schema["properties"].values():
        if "anyOf" in prop:
            kept = [s for s in prop.pop("anyOf") if s.get("type") != "null"]
            prop.pop("default", None)
            prop["anyOf"] = [*kept, {"type": "string", "maxLength": 0}]
    return schema


class TooManyApplications(AppError, status=429, code="rate_limited"): ...


class UnsupportedMedia(AppError, status=415, code="unsupported_media_type"): ...


class TooLarge(AppError, status=413, code="payload_too_large"): ...


class LimiterDown(AppError, status=503, code="unavailable"): ...


async def read_body(request: Request) -> bytes:
    """The body, read no further than MAX_BODY (413 past it)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise TooLarge(f"an application is at most {MAX_BODY} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise TooLarge(f"an application is at most {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse(content_type: str, body: bytes) -> ApplyIn:
    """The application in a JSON or form-encoded body; 4xx for anything else."""
    if len(body) > MAX_BODY:
        raise TooLarge(f"an application is at most {MAX_BODY} bytes")
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise BadRequest("the form is not UTF-8", code="invalid_request") from None
        return of_form(dict(pairs))
    if media != "application/json":
        raise UnsupportedMedia("send application/json or application/x-www-form-urlencoded")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest("the body is not JSON", code="invalid_json") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be an object", code="invalid_request")
    return _validated(data)


def of_form(fields: Mapping[str, str]) -> ApplyIn:
    """The application in a form's fields (POST /apply's or the portal's /join page)."""
    # A blank optional field in a form means "not given" (form_schema says so).
    return _validated({k: v for k, v in fields.items() if v != "" or k in ("name", "email")})


def _validated(data: dict[str, Any]) -> ApplyIn:
    try:
        return ApplyIn.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise BadRequest(f"{where}: {first['msg']}", code="invalid_request") from None


def rate_subject(ip: str) -> str:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "unknown"
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address)
    return str(address)


async def check_rate(redis: Redis, *, ip: str, per_hour: int, now: float | None = None) -> None:
    """Count one application from `ip`; 429 past the limit, 503 when Redis cannot count
    (a public form that writes to the database is not left unbounded)."""
    if per_hour <= 0:
        return
    try:
        counted = await count_in_window(redis, f"apply:rate:{rate_subject(ip)}", WINDOW_S, now)
    except (RedisError, OSError) as exc:
        raise LimiterDown(f"applications are not taken right now: {exc}") from None
    if counted.count > per_hour:
        raise TooManyApplications(
            f"at most {per_hour} applications an hour from one address",
            headers={"Retry-After": str(counted.retry_after)},
        )


async def submit(pool: Pool, *, body: ApplyIn) -> None:
    """Create an `applied` affiliate, unless the e-mail is registered already."""
    application = {
        "traffic_sources": body.traffic_sources,
        "message": body.message,
        "terms_version": body.terms_version,
        "applied_at": datetime.now(UTC).isoformat(),
    }
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(queries.LOCK_EMAIL, body.email)
        if await conn.fetchval(queries.EMAIL_TAKEN, body.email):
            return
        affiliate_id = await conn.fetchval(
            queries.INSERT_APPLICANT, body.name, body.email, body.website, application
        )
        await record(conn, APPLY, [Change(affiliate_id, "status", None, "applied", "applied")])
