"""The legal-holds list: filters by state, key prefix and dataset, newest hold first."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from app.admin.paging import PAGE_SIZE, Page, keyset
from app.enums import HoldState
from app.models import Blob, LegalHold, Version, version_blobs

MAX_TEXT = 300
# A key prefix is first looked for among this many holds next to the cursor.
NEAR = 500


@dataclass(frozen=True)
class HoldFilter:
    """What the list is narrowed to; empty strings mean "any"."""

    state: str = ""
    key: str = ""  # a key prefix
    dataset: str = ""

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> HoldFilter:
        """The filter from query arguments; an unknown state is ignored, texts are trimmed."""
        state = args.get("state") or ""
        return cls(
            state=state if state in {s.value for s in HoldState} else "",
            key=(args.get("key") or "").strip()[:MAX_TEXT],
            dataset=(args.get("dataset") or "").strip()[:64],
        )

    def args(self) -> dict[str, str]:
        """The non-empty filters, for the pager's links."""
        given = (("state", self.state), ("key", self.key), ("dataset", self.dataset))
        return {name: value for name, value in given if value}


def page(
    session: Session, given: HoldFilter, *, before: int | None, after: int | None
) -> Page[Any]:
    """The page of holds matching `given` next to the cursor, newest first.

    A key prefix cannot use the blobs' key index (LIKE needs the C collation or a
    pattern index), and the planner cannot guess how many keys match. So the NEAR holds
    next to the cursor are tried first (recent keys, the usual search: their blobs by
    primary key); when those do not fill the page, the matching blobs are collected in
    one pass over the blobs and their holds sorted, never a walk over every hold probing
    each one's key.
    """
    if not given.key:
        return keyset(session, list_query(given), LegalHold.id, before=before, after=after)
    near = _near_blobs(session, given.key, before=before, after=after)
    if near is not None:
        query = list_query(replace(given, key="")).where(LegalHold.blob_id.in_(near))
        found = keyset(session, query, LegalHold.id, before=before, after=after)
        if len(found.rows) == PAGE_SIZE and (found.newer if after is not None else found.older):
            return found
    return keyset(session, list_query(given), LegalHold.id, before=before, after=after)


def _near_blobs(
    session: Session, prefix: str, *, before: int | None, after: int | None
) -> list[int] | None:
    """Blobs with keys under `prefix` among the NEAR holds next to the cursor (None: fewer)."""
    ids = select(LegalHold.blob_id)
    if after is not None:
        ids = ids.where(LegalHold.id > after).order_by(LegalHold.id)
    else:
        ids = ids.where(LegalHold.id < before) if before is not None else ids
        ids = ids.order_by(LegalHold.id.desc())
    blob_ids = list(session.scalars(ids.limit(NEAR)))
    if len(blob_ids) < NEAR:
        return None
    keyed = select(Blob.id).where(Blob.id.in_(blob_ids), _under(prefix))
    return list(session.scalars(keyed))


def _under(prefix: str) -> Any:
    return Blob.key.startswith(prefix, autoescape=True)


def list_query(given: HoldFilter) -> Select:
    """One row per hold with its blob (never a payload or a secret), unordered.

    Under a key prefix the matching blobs are gathered first (a materialised CTE with
    their keys), so the planner neither walks every hold probing its blob's key nor
    looks each matching blob up twice.
    """
    columns = (
        LegalHold.state,
        LegalHold.target,
        LegalHold.release_reason,
        LegalHold.last_error,
        LegalHold.updated_at,
    )
    if given.key:
        blobs = (
            select(Blob.id, Blob.key, Blob.version_id)
            .where(_under(given.key))
            .cte("matching_blobs")
            .prefix_with("MATERIALIZED", dialect="postgresql")
        )
        query = select(LegalHold.id, blobs.c.key, blobs.c.version_id, *columns).join(
            blobs, blobs.c.id == LegalHold.blob_id
        )
    else:
        query = select(LegalHold.id, Blob.key, Blob.version_id, *columns).join(
            Blob, Blob.id == LegalHold.blob_id
        )
    if given.state:
        query = query.where(LegalHold.state == given.state)
    if given.dataset:
        referenced = (
            select(version_blobs.c.blob_id)
            .join(Version, Version.id == version_blobs.c.version_id)
            .where(Version.dataset_id == given.dataset)
        )
        query = query.where(LegalHold.blob_id.in_(referenced))
    return query


def referencing_versions(blob_id: int) -> Select:
    """The versions (live or deleted) that reference one blob version."""
    return (
        select(Version.id, Version.dataset_id, Version.name, Version.deleted_at)
        .join(version_blobs, version_blobs.c.version_id == Version.id)
        .where(version_blobs.c.blob_id == blob_id)
        .order_by(Version.id)
    )
