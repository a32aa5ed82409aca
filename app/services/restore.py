"""Restoring a deleted dataset or version within STASH_RETENTION_SECONDS (DESIGN "Stash").

The web path only: rows are undeleted and DOI targets set back in the caller's
transaction, and the DOIs move through the ordinary policy and outbox
(`doi_policy.request_sync`); no DataCite call is made here. A deleted draft is
re-created from its stash (its state goes `deleted → pending`), a hidden DOI is
published again at its landing page, and the concept follows the latest version again.

Every DOI DataCite has deleted or hidden must have a stash that has not expired (the
proof the deletion is recent enough to undo, and the record to rebuild from); without
one, or after the retention, or when the dataset id was reused meanwhile, the restore
is a ConflictError that changes nothing. A damaged stash is treated as absent: the DOI
is rebuilt from the database's own metadata snapshot and the answer says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import utcnow
from app.enums import DoiKind, DoiState, DoiTarget
from app.models import Dataset, Doi, Version
from app.services import dois, holds, stash
from app.services.datasets import get_dataset
from app.services.doi_policy import request_sync
from app.services.errors import ConflictError, NotFoundError
from app.services.payloads import concept_doi_of
from app.states.doi import apply

# DataCite has acted on these: deleted (a draft) or hidden (registered).
DESTROYED = (DoiState.DELETED.value, DoiState.REGISTERED.value)


@dataclass
class Restored:
    """What a restore did, for the answer: the dataset, and where each DOI is rebuilt from."""

    dataset: Dataset
    versions: list[str] = field(default_factory=list)
    dois: list[dict[str, Any]] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        """`{"versions", "dois": [{"doi", "was", "source", "stash", "warning"}], "warnings"}`.

        `source` says where the DOI's metadata comes back from: `stash` (a draft re-created
        from DataCite's stashed record) or `database` (doiflow's own metadata snapshot: a
        version's, or the concept following the latest version; also whenever the stash
        was unusable, with a warning).
        """
        warnings = [d["warning"] for d in self.dois if d["warning"]]
        return {"versions": self.versions, "dois": self.dois, "warnings": warnings}


@dataclass(frozen=True)
class _Revival:
    doi: Doi
    reading: stash.Reading | None


def restore_dataset(
    settings: Settings, session: Session, dataset_id: str, *, now: datetime | None = None
) -> Restored:
    """Undelete a dataset and the versions deleted with it; their DOIs are driven back."""
    now = now or utcnow()
    dataset = get_dataset(session, dataset_id, for_update=True)
    if dataset.deleted_at is None:
        raise ConflictError(f"dataset {dataset.id!r} is not deleted; nothing to restore")
    _within_retention(settings, f"dataset {dataset.id!r}", dataset.deleted_at, now)
    versions = [v for v in dataset.versions if v.deleted_at == dataset.deleted_at]
    _check_blobs(versions)
    # A hidden concept with no version coming back stays hidden: nothing to undo at DataCite.
    revivals = [
        _revival(
            session, dataset, doi, now, driven=doi.kind == DoiKind.VERSION.value or bool(versions)
        )
        for doi in _dois_in_scope(session, dataset)
    ]
    dataset.deleted_at = None
    return _revive(settings, session, dataset, versions, revivals)


def restore_version(
    settings: Settings,
    session: Session,
    dataset_id: str,
    name: str,
    *,
    now: datetime | None = None,
) -> Restored:
    """Undelete one version of a live dataset; its DOI is published again, the concept follows."""
    now = now or utcnow()
    dataset = get_dataset(session, dataset_id, for_update=True)
    if dataset.deleted_at is not None:
        raise ConflictError(
            f"dataset {dataset.id!r} is deleted: restore the dataset "
            f"(POST /api/datasets/{dataset.id}/restore), not one version"
        )
    version = next((v for v in dataset.versions if v.name.lower() == name.lower()), None)
    if version is None:
        raise NotFoundError(f"dataset {dataset.id!r} has no version {name!r}")
    if version.deleted_at is None:
        raise ConflictError(f"version {version.name!r} of {dataset.id!r} is not deleted")
    _within_retention(settings, f"version {version.name!r}", version.deleted_at, now)
    _check_blobs([version])
    scope = [d for d in _dois_of(session, dataset.id) if d.version_id == version.id]
    revivals = [_revival(session, dataset, doi, now) for doi in scope]
    concept = concept_doi_of(session, dataset.id, for_update=True)
    if concept is not None:
        # It follows the latest version again (published again if hidden for want of one),
        # from the versions' metadata: nothing of it needs the stash.
        revivals.append(_Revival(concept, None))
    return _revive(settings, session, dataset, [version], revivals)


def _within_retention(settings: Settings, what: str, deleted_at: datetime, now: datetime) -> None:
    deadline = deleted_at + timedelta(seconds=settings.stash_retention_seconds)
    if now > deadline:
        raise ConflictError(
            f"{what} was deleted at {deleted_at.isoformat()}, longer ago than "
            f"STASH_RETENTION_SECONDS ({settings.stash_retention_seconds:g} s): its stashes "
            "are gone and it can no longer be restored; nothing was changed",
            {"deleted_at": deleted_at.isoformat(), "expired_at": deadline.isoformat()},
        )


def _check_blobs(versions: list[Version]) -> None:
    for version in versions:
        gone = [b for b in version.blobs if b.deleted_at is not None]
        if gone:
            raise ConflictError(
                f"version {version.name!r} references blob {gone[0].key!r} "
                f"version {gone[0].version_id!r}, which was deleted; it cannot be restored",
                {"version": version.name},
            )


def _revival(
    session: Session, dataset: Dataset, doi: Doi, now: datetime, *, driven: bool = True
) -> _Revival:
    """The DOI and the stash it comes back from; refuses when DataCite acted without one."""
    if doi.state not in DESTROYED or (doi.state == DoiState.REGISTERED.value and not driven):
        return _Revival(doi, None)  # no destructive call to undo (yet, or for this restore)
    latest = stash.latest_live(session, doi.id, now=now)
    if latest is None:
        raise ConflictError(
            f"DOI {doi.doi} is {doi.state} at DataCite and has no stash within "
            f"STASH_RETENTION_SECONDS: nothing to restore it from; nothing was changed",
            {"doi": doi.doi},
        )
    if latest.dataset_created_at != dataset.created_at:
        raise ConflictError(
            f"dataset id {dataset.id!r} was reused since DOI {doi.doi} was stashed; "
            "the stash belongs to the earlier dataset; nothing was changed",
            {"doi": doi.doi},
        )
    return _Revival(doi, stash.read(latest))


def _revive(
    settings: Settings,
    session: Session,
    dataset: Dataset,
    versions: list[Version],
    revivals: list[_Revival],
) -> Restored:
    restored = Restored(dataset, versions=[v.name for v in versions])
    for version in versions:
        version.deleted_at = None
    session.flush()
    blobs = [b for v in versions for b in v.blobs]
    protected = holds.protect(session, settings, blobs)
    holds.queue_apply(session, settings, [h.id for h in protected if holds.needs_call(h)])
    live = any(v.deleted_at is None for v in dataset.versions)
    target = DoiTarget.FINDABLE if settings.doi_publish else DoiTarget.DRAFT
    for revival in revivals:
        doi = revival.doi
        was = doi.state
        source, warning = _rebuild(dataset, revival)
        doi.target = _target_after(doi, target, live=live).value
        if doi.state == DoiState.FAILED.value:
            dois.redrive(settings, session, doi, reason="restored")
        restored.dois.append(
            {
                "doi": doi.doi,
                "was": was,
                "source": source,
                "stash": revival.reading.stash.id if revival.reading else None,
                "warning": warning,
            }
        )
    session.flush()
    # Versions before the concept: the concept follows what they become.
    for revival in sorted(revivals, key=lambda r: r.doi.kind == DoiKind.CONCEPT.value):
        request_sync(session, settings, revival.doi)
    return restored


def _target_after(doi: Doi, wanted: DoiTarget, *, live: bool) -> DoiTarget:
    """Versions and a concept with live versions: `wanted`; a concept without: its draft,
    or hidden at the landing page again when DataCite made it public (never un-published).
    """
    if doi.kind == DoiKind.VERSION.value or live:
        return wanted
    public = doi.state in (DoiState.FINDABLE.value, DoiState.REGISTERED.value)
    return DoiTarget.REGISTERED if public else DoiTarget.DRAFT


def _rebuild(dataset: Dataset, revival: _Revival) -> tuple[str, str | None]:
    """Bring a deleted draft back to pending; say what the DOI's metadata comes from."""
    doi, reading = revival.doi, revival.reading
    deleted_draft = doi.state == DoiState.DELETED.value
    if deleted_draft:
        apply(doi, "restore", publishing_allowed=True, detail="restored from the stash")
        doi.confirmed_hash = None
        doi.confirmed_url = None
        doi.in_doubt_since = None
        doi.attempts = 0
        doi.last_error = None
    if reading is None:
        return "database", None
    if not reading.usable:
        note = reading.warning or f"DataCite had no record of {doi.doi} when it was stashed (404)"
        return "database", f"{note}; rebuilt from the database's metadata snapshot"
    follows_versions = any(v.deleted_at is None for v in dataset.versions)
    if not deleted_draft or doi.kind != DoiKind.CONCEPT.value or follows_versions:
        return "database", None  # a version's snapshot, or the latest version's: doiflow's own
    # A draft concept carries the dataset's draft metadata: it comes back as stashed.
    dataset.draft_metadata = stash.archive_attributes(reading.attributes or {})
    return "stash", None


def _dois_in_scope(session: Session, dataset: Dataset) -> list[Doi]:
    """The concept and the DOIs of the versions deleted with the dataset."""
    deleted_with = {v.id for v in dataset.versions if v.deleted_at == dataset.deleted_at}
    return [
        doi
        for doi in _dois_of(session, dataset.id)
        if doi.kind == DoiKind.CONCEPT.value or doi.version_id in deleted_with
    ]


def _dois_of(session: Session, dataset_id: str) -> list[Doi]:
    # Versions before the concept: the order a worker recording a version locks them in.
    query = select(Doi).where(Doi.dataset_id == dataset_id)
    ordered = query.order_by(Doi.kind == DoiKind.CONCEPT.value, Doi.id).with_for_update()
    return list(session.scalars(ordered))
