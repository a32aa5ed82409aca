"""Keyset pagination over an id column, newest first: no OFFSET, so page 500 costs page 1."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import QueryableAttribute, Session

T = TypeVar("T")
PAGE_SIZE = 50


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of rows; `older`/`newer` are the cursors of the neighbouring pages."""

    rows: list[T]
    older: int | None  # pass as ?before=
    newer: int | None  # pass as ?after=


def keyset(
    session: Session,
    query: Select,  # any columns, one of them `id`
    id_column: QueryableAttribute[int],
    *,
    before: int | None = None,
    after: int | None = None,
    size: int = PAGE_SIZE,
) -> Page[Any]:
    """The page of `query` just older than `before`, or just newer than `after`."""
    if after is not None:
        rows = list(
            session.execute(
                query.where(id_column > after).order_by(id_column.asc()).limit(size + 1)
            )
        )
        more_newer = len(rows) > size
        rows = rows[:size][::-1]
        return Page(
            rows,
            older=_id(rows[-1]) if rows else after + 1,
            newer=_id(rows[0]) if more_newer and rows else None,
        )
    if before is not None:
        query = query.where(id_column < before)
    rows = list(session.execute(query.order_by(id_column.desc()).limit(size + 1)))
    more_older = len(rows) > size
    rows = rows[:size]
    return Page(
        rows,
        older=_id(rows[-1]) if more_older else None,
        newer=_id(rows[0]) if before is not None and rows else None,
    )


def _id(row: Any) -> int:
    return int(row.id)
