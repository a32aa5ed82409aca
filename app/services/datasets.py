"""The archive's dataset lifecycle and the DOI targets each change implies (DESIGN rules 1-8).

Services take the caller's Session and never commit. They only ever set what the
archive wants (a DOI's `target`) and queue a sync intent; workers make the calls.
A dataset's versions are published, corrected and deleted in `versions`, listed in
`dataset_listing`; the DOIs its changes create or retire are made in `dataset_dois`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from app.config import Settings
from app.db import insert_as_loaded, utcnow
from app.enums import DoiState
from app.models import Dataset, Version
from app.services import dois, holds, identifiers
from app.services.dataset_dois import create_concept_doi, dois_of, publish_dois, retire
from app.services.doi_policy import request_sync
from app.services.errors import ConflictError, InvalidInputError, NotFoundError, UnprocessableError
from app.services.metadata import kernel4_problems
from app.services.payloads import concept_doi_of


def get_dataset(
    session: Session, dataset_id: str, *, for_update: bool = False, blobs: bool = True
) -> Dataset:
    """The dataset whose id equals `dataset_id` ignoring case (as its DOI does), or NotFoundError.

    Ids are unique ignoring case (`uq_datasets_lower_id`, which this lookup uses), so at
    most one matches; the answer carries its stored spelling.
    """
    query = select(Dataset).where(func.lower(Dataset.id) == func.lower(dataset_id))
    versions = selectinload(Dataset.versions)
    # Without blobs the versions' blobs are read on access: a publish needs only names.
    query = query.options(versions.selectinload(Version.blobs) if blobs else versions)
    dataset = session.scalars(query.with_for_update() if for_update else query).first()
    if dataset is None:
        raise NotFoundError(f"dataset {dataset_id!r} does not exist")
    return dataset


def find_version(dataset: Dataset, name: str) -> Version | None:
    """The dataset's version called `name` ignoring case (names are unique so), live or not."""
    wanted = name.lower()
    return next((v for v in dataset.versions if v.name.lower() == wanted), None)


def create_dataset(
    settings: Settings,
    session: Session,
    dataset_id: str,
    *,
    embargoed: bool,
    metadata: dict[str, Any],
) -> Dataset:
    """Rule 1: record the dataset; a public one gets a concept DOI heading for draft."""
    if not identifiers.is_valid_name(dataset_id):
        raise InvalidInputError(
            f"dataset id {dataset_id!r} must match {identifiers.NAME_PATTERN.pattern}",
            {"field": "id"},
        )
    _check_draft_metadata(metadata)
    # versions=[]: a new dataset has none, and reading them then needs no query.
    dataset = Dataset(id=dataset_id, embargoed=embargoed, draft_metadata=metadata, versions=[])
    if not insert_as_loaded(session, dataset, unless_exists=True):
        # Only now look at what is in the way: the unique index on lower(id) refused it.
        existing = session.scalar(
            select(Dataset.id).where(func.lower(Dataset.id) == dataset_id.lower())
        )
        if existing is None or existing == dataset_id:
            raise ConflictError(f"dataset {dataset_id!r} already exists")
        raise ConflictError(
            f"dataset {existing!r} already exists; ids may not differ only in case (DOIs ignore it)"
        )
    if not embargoed:
        create_concept_doi(settings, session, dataset, new_dataset=True)
    return dataset


def update_metadata(
    settings: Settings, session: Session, dataset_id: str, metadata: dict[str, Any]
) -> Dataset:
    """Rules 2 and 5: re-sync the draft before the first publication, never after."""
    _check_draft_metadata(metadata)
    dataset = require_live(get_dataset(session, dataset_id, for_update=True))
    dataset.draft_metadata = metadata
    concept = concept_doi_of(session, dataset.id, for_update=True)
    # Rule 5: once a version is out, the concept follows the versions, not the draft.
    if dataset.embargoed or concept is None or has_live_versions(dataset):
        return dataset
    if concept.state == DoiState.FAILED.value:
        # A concept DOI that failed earlier is re-created with the new metadata.
        dois.redrive(settings, session, concept, reason="metadata changed")
        return dataset
    request_sync(session, settings, concept)
    return dataset


def unembargo(settings: Settings, session: Session, dataset_id: str) -> Dataset:
    """Lift the embargo: DOIs appear as if the dataset had been public all along.

    The concept DOI is created with the latest metadata, and every live version published
    under embargo gets its version DOI (findable, the concept following the latest).
    """
    dataset = require_live(get_dataset(session, dataset_id, for_update=True))
    if not dataset.embargoed:
        raise ConflictError(f"dataset {dataset_id!r} is not embargoed")
    dataset.embargoed = False
    create_concept_doi(settings, session, dataset)
    if settings.datacite_configured:
        for version in dataset.versions:
            if version.deleted_at is None:
                publish_dois(settings, session, dataset, version)
    return dataset


def delete_dataset(settings: Settings, session: Session, dataset_id: str) -> Dataset:
    """Rules 3 and 8: drafts are deleted, findable DOIs hidden at the tombstone."""
    dataset = require_live(get_dataset(session, dataset_id, for_update=True))
    dataset.deleted_at = utcnow()
    for version in dataset.versions:
        version.deleted_at = version.deleted_at or dataset.deleted_at
    session.flush()
    holds.release_unreferenced(session, settings, [b for v in dataset.versions for b in v.blobs])
    for doi in dois_of(session, dataset.id):
        retire(settings, session, doi)
    return dataset


def has_live_versions(dataset: Dataset) -> bool:
    return any(v.deleted_at is None for v in dataset.versions)


def require_live(dataset: Dataset) -> Dataset:
    if dataset.deleted_at is not None:
        raise ConflictError(f"dataset {dataset.id!r} is deleted")
    return dataset


def _check_draft_metadata(metadata: dict[str, Any]) -> None:
    problems = kernel4_problems(metadata, complete=False)
    if problems:
        raise UnprocessableError(
            "metadata has fields of the wrong DataCite kernel-4 shape", problems
        )
