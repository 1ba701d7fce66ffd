"""The OpenAPI document as the service answers, derived from what each operation takes.

FastAPI documents a 422 with its own `HTTPValidationError` on every operation that takes
input, and nothing else that can go wrong. The service answers 400 with the one error
shape instead, and 401/403/404/409/503 where they apply. Rather than a list per route,
the statuses follow from what FastAPI already wrote of each operation (its parameters,
body and security, which come from the route's dependencies), so a new route is described
as soon as it is added:

- input (parameters or a body, where FastAPI put its 422): 400;
- the API key (`security`, from the `Security(HTTPBearer)` dependency): 401 (no, unknown
  or revoked key), 403 (a key with too little power), and 503, since a key is checked
  against PostgreSQL (unreachable PostgreSQL or Redis: 503 with `Retry-After`);
- a path parameter: 404;
- a write (POST, PUT, PATCH, DELETE) behind the key: 409 (a taken unique value, an
  archived target, a reference to something that does not exist, a state that forbids
  the change).

A status a route documents itself (the public intake routes do) keeps its description
and gets the shared `Error` model unless it names its own body.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "stable, machine-readable"},
                "message": {"type": "string", "description": "for people"},
                "details": {
                    "type": "array",
                    "description": "each invalid field (validation errors only)",
                    "items": {
                        "type": "object",
                        "required": ["field", "message"],
                        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                    },
                },
            },
        }
    },
}
DESCRIPTIONS = {
    400: "bad input: a missing, malformed or out-of-range parameter or body field",
    401: "no API key, or an unknown or revoked one",
    403: "the key may not do this (an affiliate key on admin data or another affiliate's; "
    "a manager's session on the owners' routes: `owner_only`)",
    404: "no such resource (for a manager's session, also another manager's affiliate's)",
    409: "the change conflicts with what is stored: a taken unique value, an archived target, "
    "or a reference to something that does not exist (`invalid_reference`: the same "
    "request succeeds once it does)",
    503: "PostgreSQL or Redis is unreachable: try again later",
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before trying again",
        "schema": {"type": "integer"},
    }
}
WWW_AUTHENTICATE = {"WWW-Authenticate": {"schema": {"type": "string"}}}
WRITES = frozenset({"post", "put", "patch", "delete"})
METHODS = frozenset({"get", "head", "options", "trace", *WRITES})


def error_statuses(method: str, operation: dict[str, Any]) -> set[int]:
    """The error statuses an operation can answer, from its inputs and security."""
    responses = operation.get("responses", {})
    parameters = operation.get("parameters", [])
    statuses = {int(code) for code in responses if code.isdigit() and int(code) >= 400}
    if "422" in responses or parameters or "requestBody" in operation:
        statuses.add(400)
    if any(p.get("in") == "path" for p in parameters):
        statuses.add(404)
    if operation.get("security"):
        statuses |= {401, 403, 503}
        if method in WRITES:
            statuses.add(409)
    statuses.discard(422)
    return statuses


def _error_response(status: int, existing: dict[str, Any] | None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": DESCRIPTIONS.get(status, "error")}
    if existing and existing.get("description") and existing["description"] != "Bad Request":
        response["description"] = existing["description"]
    # A route that documents its own body for a status (GET /ready's 503) keeps it.
    response["content"] = (existing or {}).get("content") or {
        "application/json": {"schema": ERROR_REF}
    }
    if status == 401:
        response["headers"] = WWW_AUTHENTICATE
    elif status == 503:
        response["headers"] = RETRY_AFTER
    return response


def describe(schema: dict[str, Any]) -> None:
    """Rewrite the error responses of every operation in place (see the module docstring)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    for item in schema.get("paths", {}).values():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            statuses = error_statuses(method, operation)
            responses.pop("422", None)
            for status in sorted(statuses):
                responses[str(status)] = _error_response(status, responses.get(str(status)))
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)


def install(app: FastAPI) -> None:
    """Serve the rewritten document at the app's openapi_url (built once, on first use)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            describe(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
