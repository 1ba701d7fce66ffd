"""What every catalog PATCH shares: the fields a body sets, and the UPDATE they become."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from app.errors import BadRequest


def changes(body: BaseModel, *, nullable: frozenset[str]) -> dict[str, Any]:
    """The fields the client sent (an omitted field stays as stored); null only where the
    column may be empty."""
    fields: dict[str, Any] = {name: getattr(body, name) for name in body.model_fields_set}
    for name, value in fields.items():
        if value is None and name not in nullable:
            raise BadRequest(f"{name}: may not be null", code="invalid_request")
    return fields


def update_sql(
    table: str, columns: list[str], returning: str, casts: dict[str, str] | None = None
) -> str:
    """UPDATE ... SET for whitelisted column names (from a model's fields), values bound."""
    casts = casts or {}
    assignments = ", ".join(
        f"{c} = ${i}" + (f"::{casts[c]}" if c in casts else "")
        for i, c in enumerate(columns, start=2)
    )
    return (
        f"UPDATE {table} SET {assignments}, updated_at = now() WHERE id = $1 RETURNING {returning}"
    )
