"""The outbox browser's filters and queries: index-backed, keyset-paged, bounded.

Structured filters (status, topic, queue, key) ride the outbox's indexes. The two
searches (error text, payload containment) look only at the newest SEARCH_WINDOW
intents unless asked to look everywhere, and every query runs under the admin's
statement_timeout (`app.admin.context`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import ColumnElement, Select, cast, func, literal, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from app.admin.paging import Page, keyset
from app.db import is_postgres
from app.enums import IntentStatus
from app.models import Intent
from app.outbox import DISCARDABLE
from app.services.errors import InvalidInputError

SEARCH_WINDOW = 200_000
BULK_LIMIT = 10_000
ELIGIBLE = {"retry": (IntentStatus.FAILED.value,), "discard": DISCARDABLE}
LIST_COLUMNS = (
    Intent.id,
    Intent.created_at,
    Intent.updated_at,
    Intent.topic,
    Intent.queue,
    Intent.key,
    Intent.status,
    Intent.attempts,
    Intent.available_at,
    Intent.last_error,
)


@dataclass(frozen=True)
class OutboxFilter:
    """What the person asked for, as given in the query string."""

    status: str = ""
    topic: str = ""
    queue: str = ""
    key: str = ""
    error: str = ""
    payload: str = ""
    everywhere: str = ""  # "1": search beyond the newest SEARCH_WINDOW intents

    @classmethod
    def from_args(cls, args: Any) -> OutboxFilter:
        """Read and check the filter; InvalidInputError names a bad field."""
        given = cls(**{f.name: (args.get(f.name) or "").strip()[:500] for f in fields(cls)})
        if given.status and given.status not in {s.value for s in IntentStatus}:
            raise InvalidInputError(f"status must be one of {', '.join(IntentStatus)}")
        given.payload_document()
        return given

    def payload_document(self) -> dict[str, Any] | None:
        """The payload filter as a JSON object, or None when not given."""
        if not self.payload:
            return None
        try:
            document = json.loads(self.payload)
        except ValueError:
            raise InvalidInputError('payload must be a JSON object, e.g. {"doi_id": 42}') from None
        if not isinstance(document, dict):
            raise InvalidInputError('payload must be a JSON object, e.g. {"doi_id": 42}')
        return document

    @property
    def searching(self) -> bool:
        """True when a text or payload search is part of the filter."""
        return bool(self.error or self.payload)

    def args(self) -> dict[str, Any]:
        """The non-empty fields, for links that keep the filter."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}

    def describe(self) -> str:
        """`status=failed topic=sync_doi`, for confirmations and the audit log."""
        return " ".join(f"{name}={value}" for name, value in self.args().items()) or "everything"


def search_floor(session: Session, given: OutboxFilter) -> int | None:
    """The id below which searches do not look, or None for no bound."""
    if not given.searching or given.everywhere:
        return None
    newest = session.scalar(select(func.max(Intent.id)))
    return max(0, int(newest or 0) - SEARCH_WINDOW)


def conditions(
    session: Session, given: OutboxFilter, floor: int | None
) -> list[ColumnElement[bool]]:
    """The WHERE clauses of a filter."""
    where: list[ColumnElement[bool]] = []
    for name in ("status", "topic", "queue", "key"):
        if value := getattr(given, name):
            where.append(getattr(Intent, name) == value)
    if given.error:
        # Spelled out so Postgres can use the partial index of rows with an error.
        where.append(Intent.last_error.is_not(None))
        where.append(Intent.last_error.icontains(given.error, autoescape=True))
    document = given.payload_document()
    if document is not None:
        if not is_postgres(session):
            raise InvalidInputError("payload search needs Postgres (jsonb containment)")
        where.append(Intent.payload.op("@>")(cast(literal(json.dumps(document)), JSONB)))
    if floor is not None:
        where.append(Intent.id > floor)
    return where


def list_query(session: Session, given: OutboxFilter, floor: int | None) -> Select:
    """The list's SELECT, unordered (keyset paging orders it); EXPLAINed by the benchmark."""
    return select(*LIST_COLUMNS).where(*conditions(session, given, floor))


def list_page(
    session: Session,
    given: OutboxFilter,
    *,
    floor: int | None,
    before: int | None,
    after: int | None,
) -> Page[Any]:
    """One page of matching intents, newest first."""
    return keyset(session, list_query(session, given, floor), Intent.id, before=before, after=after)


def eligible_ids(
    session: Session, given: OutboxFilter, action: str, *, floor: int | None, up_to: int | None
) -> list[int]:
    """Ids a bulk action would touch: matching, eligible, at most BULK_LIMIT + 1 (to tell)."""
    query = (
        select(Intent.id)
        .where(*conditions(session, given, floor), Intent.status.in_(ELIGIBLE[action]))
        .order_by(Intent.id.desc())
        .limit(BULK_LIMIT + 1)
    )
    if up_to is not None:
        query = query.where(Intent.id <= up_to)
    return list(session.scalars(query))
