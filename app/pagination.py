"""Keyset pagination shared by every list endpoint: `?limit=&cursor=` -> {items, next_cursor}."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Protocol, Self, TypeVar

from fastapi import Query
from pydantic import BaseModel, PrivateAttr

from app.api_params import IdQuery
from app.errors import BadRequest
from app.patterns import MAX_ID

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


T = TypeVar("T")


class _HasId(Protocol):
    @property
    def id(self) -> int: ...


Identified = TypeVar("Identified", bound=_HasId)
P = TypeVar("P", bound="PageParams")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")]
CursorQuery = Annotated[
    str | None,
    # The pattern is after_id's own rule, so that the schema admits exactly what it takes.
    Query(pattern=r"^[0-9]{0,18}$", description="`next_cursor` of the previous page"),
]


class PageParams(BaseModel):
    """The `?limit=&cursor=` of a list endpoint; `of` makes the page of what it fetched."""

    limit: LimitQuery = DEFAULT_LIMIT
    cursor: CursorQuery = None

    @property
    def after(self) -> int:
        return after_id(self.cursor)

    def arguments(self) -> tuple[Any, ...]:
        """The values of a `page_sql` query's $1, $2, ...: after, limit, then the filters a
        subclass adds, in field order (the order of the query's conditions)."""
        filters = (name for name in type(self).model_fields if name not in _PAGE_FIELDS)
        return (self.after, self.limit, *(getattr(self, name) for name in filters))

    def of(self, items: list[T], rows: Sequence[Row]) -> Page[T]:
        """The page of items made from rows, fetched with `limit` and `after`."""
        return Page[T](items=items, next_cursor=next_cursor(rows, self.limit))

    def of_items(self, items: list[Identified]) -> Page[Identified]:
        """The page of items that carry their own ID."""
        return self.of(items, [{"id": item.id} for item in items])


_PAGE_FIELDS = frozenset(PageParams.model_fields)
# A list endpoint's query parameters as one model: they stand where it stands among the
# route's own parameters, in field order (limit and cursor first), in the document too.
Filters = Annotated[P, Query()]
PageQuery = Filters[PageParams]


class Caller(Protocol):
    def scope(self, affiliate_id: int | None, /) -> list[int] | None: ...


class AffiliatePage(PageParams):
    """A page of what belongs to affiliates, `?affiliate_id=` narrowing it to one; a
    subclass adds its filters, which the document lists after these, in field order.

    Its query's first filter is `affiliate_id in bigint[]`: the affiliates the page may
    show (`affiliates`: the one asked for, or as `scoped` leaves them)."""

    affiliate_id: IdQuery = None
    # Set by `scoped`: the caller's affiliates (None: all); unset, the one asked for.
    _affiliates: list[int] | None = PrivateAttr(default=None)
    _scoped: bool = PrivateAttr(default=False)

    @property
    def affiliates(self) -> list[int] | None:
        if self._scoped:
            return self._affiliates
        return None if self.affiliate_id is None else [self.affiliate_id]

    def scoped(self, caller: Caller) -> Self:
        """The filters as the caller may use them: an affiliate key sees its own only, a
        manager all of theirs (or the one of them asked for)."""
        page = self.model_copy()
        page._affiliates = caller.scope(self.affiliate_id)
        page._scoped = True
        return page

    def arguments(self) -> tuple[Any, ...]:
        after, limit, _, *rest = super().arguments()
        return (after, limit, self.affiliates, *rest)


class AffiliateAliasPage(AffiliatePage):
    """An AffiliatePage whose filter the API names `?affiliate=`."""

    affiliate_id: Annotated[int | None, Query(ge=1, le=MAX_ID, alias="affiliate")] = None


def after_id(cursor: str | None) -> int:
    """The last ID of the previous page (0 for the first page)."""
    if cursor is None or cursor == "":
        return 0
    # isdigit() alone also accepts digits int() refuses, such as "²".
    if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 18:
        raise BadRequest("cursor is not one this API returned", code="invalid_cursor")
    return int(cursor)


class Row(Protocol):
    def __getitem__(self, key: str, /) -> Any: ...


def next_cursor(rows: Sequence[Row], limit: int) -> str | None:
    """The last row's ID when the page was full; the caller fetches limit rows."""
    return str(rows[-1]["id"]) if rows and len(rows) == limit else None


@dataclass(frozen=True, slots=True)
class Condition:
    column: str
    operator: str
    sql_type: str
    # The values written into the statement instead of a parameter (see page_sql).
    inlined: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class PageSql:
    """A list query: `select` in `order` after $1, at most $2 rows, narrowed by the
    conditions whose values are set (see page_sql)."""

    select: str
    conditions: tuple[Condition, ...]
    order: str = "id"

    def bind(self, after: int, limit: int, *filters: Any) -> tuple[Any, ...]:
        """The statement and its arguments (`conn.fetch(*query.bind(...))`) for these
        values of the conditions, in their order.

        A condition whose value is None is left out of the WHERE rather than written
        `($n IS NULL OR ...)`, which no index serves once PostgreSQL keeps a generic plan
        of the prepared statement (after its fifth run). A value of an enumerated
        condition is written into the statement, so that each value's plan is its own and
        knows how common it is (a generic `kind = $n` assumes every kind is as common,
        and walks the primary key for a rare one)."""
        if len(filters) != len(self.conditions):
            raise TypeError(f"{len(self.conditions)} filter values expected, got {len(filters)}")
        where, values = [f"{self.order} > $1"], [after, limit]
        for condition, value in zip(self.conditions, filters, strict=True):
            if value is None:
                continue
            if isinstance(value, str) and value in condition.inlined:
                # One of a fixed set of plain words (checked by page_sql): no quoting needed.
                operand = f"'{value}'::{condition.sql_type}"
            else:
                values.append(value)
                operand = f"${len(values)}::{condition.sql_type}"
            if condition.operator == "in":
                where.append(f"{condition.column} = ANY({operand})")
            else:
                where.append(f"{condition.column} {condition.operator} {operand}")
        conditions = "\n  AND ".join(where)
        sql = f"\n{self.select}\nWHERE {conditions}\nORDER BY {self.order} LIMIT $2\n"
        return (sql, *values)


_WORD = re.compile(r"[a-z][a-z0-9_]*")


def page_sql(select: str, optional: str = "", *, order: str = "id") -> PageSql:
    """`select` (SELECT ... FROM ...) as a page: in `order` after $1, $2 rows at most.

    `optional` lists, comma-separated, the conditions on the filter values `bind` takes
    after `after` and `limit`, in that order, each written `<column> <operator> <type>`
    (`affiliate_id = bigint`; `in` with an array type, `affiliate_id in bigint[]`, is one
    of its elements), each left out where its value is None. A fourth part lists the
    values of an enumerated column, `kind = text postback|webhook`: those are written into
    the statement (any other value is a parameter, as without the list).
    """
    conditions = []
    for text in filter(None, map(str.strip, optional.split(","))):
        column, operator, sql_type, *rest = text.split()
        inlined = frozenset(rest[0].split("|")) if rest else frozenset()
        if len(rest) > 1 or not all(_WORD.fullmatch(v) for v in inlined):
            raise ValueError(f"enumerated values are plain lowercase words: {text}")
        conditions.append(Condition(column, operator, sql_type, inlined))
    return PageSql(select, tuple(conditions), order)
