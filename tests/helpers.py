"""Small helpers shared by tests (fixtures live in conftest.py and tests/fixtures/)."""

from __future__ import annotations

import uuid
from typing import Any, cast

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis

from app.clickid import new_click_id, parse_click_id
from app.main import TrackerApp

ADMIN_KEY = "test-admin-key-0123456789abcdef"


async def create(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    """POST a resource and return its JSON, failing loudly if it was not created."""
    response = await client.post(f"/api/v1/{path}", json=body, headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def affiliate_headers(
    client: httpx.AsyncClient, admin: dict[str, str], affiliate_id: int
) -> dict[str, str]:
    key = await create(client, "keys", {"role": "affiliate", "affiliate_id": affiliate_id}, admin)
    return {"Authorization": f"Bearer {key['key']}"}


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """Check the one error shape, {"error": {"code", "message"}}, and return the inner object."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert isinstance(error["code"], str), error
    assert error["code"]
    assert isinstance(error["message"], str), error
    assert error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


async def reload_links(app: FastAPI) -> None:
    """Links made a moment ago redirect at once (the cache would see them at its next poll)."""
    assert isinstance(app, TrackerApp)
    await app.reload_links()


async def stream_entries(redis: Redis, key: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """XRANGE of a whole stream, typed as this client (no decode_responses) answers."""
    return cast(list[tuple[bytes, dict[bytes, bytes]]], await redis.xrange(key))


def new_click_uuid() -> uuid.UUID:
    """A fresh click ID as the UUID the records carry."""
    click_id = parse_click_id(new_click_id()[0])
    assert click_id is not None
    return click_id
