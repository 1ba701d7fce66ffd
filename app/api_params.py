"""Path and query types every route shares: IDs, time bounds, and the parsing of a time bound."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import Path, Query, Request

from app import patterns
from app.errors import BadRequest
from app.patterns import MAX_ID

IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
TimeQuery = Annotated[
    str | None,
    Query(
        max_length=40,
        description="ISO date (whole day, UTC) or date-time (UTC without an offset)",
        json_schema_extra={"pattern": patterns.DATE_OR_TIME},
    ),
]


def moment(text: str | None, name: str, *, end: bool) -> datetime | None:
    """An ISO date or date-time; a date as the end of a range includes that whole day."""
    if text is None or text == "":
        return None
    try:
        if not patterns.matches(patterns.DATE_OR_TIME, text):
            raise ValueError
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        at = datetime.fromisoformat(text)
        return at if at.tzinfo else at.replace(tzinfo=UTC)
    except (ValueError, OverflowError):  # 9999-12-31 plus a day overflows
        raise BadRequest(
            f"{name}: not an ISO date or date-time", code="invalid_parameter"
        ) from None


def filter_parameters(names: Iterable[str], *, on: str, several: str) -> list[dict[str, Any]]:
    """The OpenAPI entries of the filters `?name=a,b` that a route reads from its raw query:
    "Filter on {on}{name}", the values comma-separated, or for sub IDs and source (whose
    values may hold commas) the parameter repeated, as `several` says."""
    return [
        {
            "name": name,
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": f"Filter on {on}{name}: comma-separated values"
            + (f" ({several})" if name.startswith(("sub", "source")) else ""),
        }
        for name in names
    ]


def raw_query(request: Request) -> dict[str, list[str]]:
    """The query string as name -> values. A route that declares its parameters only to
    document them reads this, so that it sees repeated and unknown names too."""
    params: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        params.setdefault(name, []).append(value)
    return params


def documented(description: str, *, alias: str | None = None, **schema: Any) -> Any:
    """A query parameter that a route reading `raw_query` declares to document it: its
    description and JSON Schema (pattern, enum, ...), checked by the route's own parser."""
    return Query(alias=alias, description=description, json_schema_extra=schema)
