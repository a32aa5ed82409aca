"""The legal-holds list: filters by state, key prefix and dataset, newest hold first."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Select, select

from app.enums import HoldState
from app.models import Blob, LegalHold, Version, version_blobs

MAX_TEXT = 300


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


def list_query(given: HoldFilter) -> Select:
    """One row per hold with its blob (never a payload or a secret), unordered."""
    query = select(
        LegalHold.id,
        Blob.key,
        Blob.version_id,
        LegalHold.state,
        LegalHold.target,
        LegalHold.release_reason,
        LegalHold.last_error,
        LegalHold.updated_at,
    ).join(Blob, Blob.id == LegalHold.blob_id)
    if given.state:
        query = query.where(LegalHold.state == given.state)
    if given.key:
        query = query.where(Blob.key.startswith(given.key, autoescape=True))
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
