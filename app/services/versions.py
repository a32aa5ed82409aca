"""A dataset's versions: publishing, correcting and deleting them (DESIGN rules 4, 6, 7).

As in `datasets`, services take the caller's Session and never commit; they set DOI
targets and queue sync intents, and workers make the calls.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import utcnow
from app.enums import DoiState, DoiTarget
from app.models import Dataset, Doi, Job, Version
from app.services import blob_records, dois, hold_progress, holds, identifiers, jobs
from app.services.dataset_dois import publish_dois, retire
from app.services.datasets import find_version, get_dataset, has_live_versions, require_live
from app.services.doi_policy import request_sync, retire_target
from app.services.errors import ConflictError, InvalidInputError, NotFoundError, UnprocessableError
from app.services.metadata import kernel4_problems
from app.services.payloads import concept_doi_of


def publish_version(
    settings: Settings,
    session: Session,
    dataset_id: str,
    *,
    name: str | None,
    metadata: dict[str, Any],
    blobs: list[dict[str, Any]],
    now: datetime | None = None,
) -> tuple[Version, Job]:
    """Rules 4 and 6: a new version, its DOI heading for findable, the concept following.

    Without a name it is named `0.YYMMDD.HHMM` of `now` (default: the current time).
    """
    dataset = require_live(get_dataset(session, dataset_id, for_update=True, blobs=False))
    if name is None:
        name = _free_default_name(dataset, now or utcnow())
    _check_version_name(session, dataset, name)
    _check_publishable(settings, metadata)
    public = not dataset.embargoed and settings.datacite_configured
    records = blob_records.records(session, blobs)
    version = Version(dataset_id=dataset.id, name=name, metadata_snapshot=metadata)
    session.add(version)
    session.flush()
    blob_records.link(session, version, records)
    # The holds exist (pending) before the DOIs are decided: the version DOI waits for them.
    holds.protect(session, settings, version.blobs)
    version_doi = concept = None
    if public:
        version_doi, concept = publish_dois(settings, session, dataset, version)
    job = jobs.start_publish_job(
        session,
        version,
        version_doi=version_doi,
        concept_doi=concept,
        s3=settings.s3_configured,
    )
    hold_progress.begin(session, settings, job, new_job=True)
    return version, job


def update_version_metadata(
    settings: Settings, session: Session, dataset_id: str, name: str, metadata: dict[str, Any]
) -> Dataset:
    """Correct a published version's metadata: checked like a publish, then its DOIs re-synced.

    A findable version DOI is updated in place, a failed one re-driven with the new
    payload; the concept DOI follows when this is the latest live version (rule 6).
    The workers read the snapshot when they act, so the queued syncs send the new one.
    """
    dataset = require_live(get_dataset(session, dataset_id, for_update=True))
    version = find_version(dataset, name)
    if version is None or version.deleted_at is not None:
        raise NotFoundError(f"dataset {dataset.id!r} has no live version {name!r}")
    _check_publishable(settings, metadata)
    version.metadata_snapshot = metadata
    session.flush()
    # The version's DOI before the concept: the order a worker recording a version locks them.
    version_doi = session.scalars(
        select(Doi).where(Doi.version_id == version.id).with_for_update()
    ).first()
    if version_doi is not None:
        _resync(settings, session, version_doi, reason="version metadata corrected")
    live = [v for v in dataset.versions if v.deleted_at is None]
    if live and live[-1].id == version.id:
        concept = concept_doi_of(session, dataset.id, for_update=True)
        if concept is not None and concept.target != DoiTarget.DELETED.value:
            _resync(settings, session, concept, reason="latest version's metadata corrected")
    return dataset


def _resync(settings: Settings, session: Session, doi: Doi, *, reason: str) -> None:
    """Re-drive a failed DOI, or queue a sync if its payload changed (coalesced)."""
    if doi.state == DoiState.FAILED.value:
        dois.redrive(settings, session, doi, reason=reason)
    else:
        request_sync(session, settings, doi)


def _check_publishable(settings: Settings, metadata: dict[str, Any]) -> None:
    # Complete kernel-4 metadata whenever DataCite is configured: even a draft version DOI
    # (DOI_PUBLISH=false) is promoted later, and nothing should fail then.
    problems = kernel4_problems(metadata, complete=settings.datacite_configured)
    if problems:
        raise UnprocessableError("metadata is not valid DataCite kernel-4 metadata", problems)


def delete_version(settings: Settings, session: Session, dataset_id: str, name: str) -> Dataset:
    """Rule 7: hide the version's DOI; the concept follows the latest remaining version."""
    dataset = require_live(get_dataset(session, dataset_id, for_update=True))
    version = find_version(dataset, name)
    if version is None or version.deleted_at is not None:
        raise NotFoundError(f"dataset {dataset_id!r} has no live version {name!r}")
    version.deleted_at = utcnow()
    session.flush()
    # Holds before DOIs: the order a hold worker's record locks them in (no deadlock).
    holds.release_unreferenced(session, settings, version.blobs)
    version_doi = session.scalars(
        select(Doi).where(Doi.version_id == version.id).with_for_update()
    ).first()
    if version_doi is not None:
        retire(settings, session, version_doi)
    concept = concept_doi_of(session, dataset.id, for_update=True)
    if concept is None:
        return dataset
    if not has_live_versions(dataset):
        # Rule 7: no version remains. A concept DataCite made public, or may have (its
        # publish in flight), or that a version may cite, is hidden; one that never left
        # draft goes back to being a draft of the dataset's draft metadata.
        retired = retire_target(session, concept)
        concept.target = retired if retired == DoiTarget.REGISTERED.value else DoiTarget.DRAFT.value
        session.flush()
    request_sync(session, settings, concept)
    return dataset


def _free_default_name(dataset: Dataset, now: datetime) -> str:
    """`0.YYMMDD.HHMM` of now, a minute later for each name already taken (as DANDI does)."""
    taken = {v.name.lower() for v in dataset.versions}
    moment = now
    while (name := identifiers.default_version_name(moment)).lower() in taken:
        moment += timedelta(minutes=1)
    return name


def _check_version_name(session: Session, dataset: Dataset, name: str) -> None:
    if not identifiers.is_valid_name(name):
        raise InvalidInputError(
            f"version {name!r} must match {identifiers.NAME_PATTERN.pattern}", {"field": "version"}
        )
    if name.lower() in identifiers.RESERVED_VERSION_NAMES:
        # Its DOI would end in `/retry`, a path of the API's own (POST /api/dois/{doi}/retry).
        raise ConflictError(
            f"version name {name!r} is reserved: its DOI would end in /{name.lower()}, a path "
            'of the API; pass another "version"'
        )
    clash = next((v.name for v in dataset.versions if v.name.lower() == name.lower()), None)
    if clash is not None:
        raise ConflictError(
            f"dataset {dataset.id!r} already has a version {clash!r} (DOIs ignore case); "
            'pass another "version"'
        )
