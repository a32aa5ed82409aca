"""The archive's dataset lifecycle and the DOI targets each change implies (DESIGN rules 1-8).

Services take the caller's Session and never commit. They only ever set what the
archive wants (a DOI's `target`) and queue a sync intent; workers make the calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from app.config import Settings
from app.db import utcnow
from app.enums import DoiKind, DoiState, DoiTarget
from app.models import Dataset, Doi, Job, Version
from app.services import blob_records, dois, hold_progress, holds, identifiers, jobs
from app.services.doi_policy import queue_first_sync, request_sync, retire_target
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
    if not blobs:
        # The versions without their blobs (read on access): a publish needs only names.
        query = query.options(selectinload(Dataset.versions).lazyload(Version.blobs))
    dataset = session.scalars(query.with_for_update() if for_update else query).first()
    if dataset is None:
        raise NotFoundError(f"dataset {dataset_id!r} does not exist")
    return dataset


@dataclass(frozen=True)
class DatasetRow:
    """One dataset in a listing: no versions, no metadata (those are one GET away)."""

    id: str
    embargoed: bool
    deleted: bool
    concept_doi: Doi | None


def list_datasets(
    session: Session,
    *,
    after: str | None = None,
    limit: int = 100,
    deleted: bool | None = None,
    embargoed: bool | None = None,
    doi_state: str | None = None,
) -> tuple[list[DatasetRow], str | None]:
    """A page of datasets in id order after `after` (keyset), and the cursor of the next one.

    `doi_state` keeps the datasets that have a DOI (concept or version) in that state.
    Two statements whatever the page: the datasets, then their concept DOIs.
    """
    query = select(Dataset.id, Dataset.embargoed, Dataset.deleted_at).order_by(Dataset.id)
    if after is not None:
        query = query.where(Dataset.id > after)
    if deleted is not None:
        query = query.where(
            Dataset.deleted_at.is_not(None) if deleted else Dataset.deleted_at.is_(None)
        )
    if embargoed is not None:
        query = query.where(Dataset.embargoed.is_(embargoed))
    if doi_state is not None:
        query = query.where(exists().where(Doi.dataset_id == Dataset.id, Doi.state == doi_state))
    rows = session.execute(query.limit(limit + 1)).all()
    page, more = rows[:limit], len(rows) > limit
    ids = [row.id for row in page]
    concepts = (
        {
            doi.dataset_id: doi
            for doi in session.scalars(
                select(Doi).where(Doi.dataset_id.in_(ids), Doi.kind == DoiKind.CONCEPT.value)
            )
        }
        if ids
        else {}
    )
    listed = [
        DatasetRow(row.id, row.embargoed, row.deleted_at is not None, concepts.get(row.id))
        for row in page
    ]
    return listed, (ids[-1] if more else None)


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
    existing = session.scalar(
        select(Dataset.id).where(func.lower(Dataset.id) == dataset_id.lower())
    )
    if existing == dataset_id:
        raise ConflictError(f"dataset {dataset_id!r} already exists")
    if existing is not None:
        raise ConflictError(
            f"dataset {existing!r} already exists; ids may not differ only in case (DOIs ignore it)"
        )
    # versions=[]: a new dataset has none, and reading them then needs no query.
    dataset = Dataset(id=dataset_id, embargoed=embargoed, draft_metadata=metadata, versions=[])
    session.add(dataset)
    if not embargoed:
        _create_concept_doi(settings, session, dataset, new_dataset=True)
    return dataset


def update_metadata(
    settings: Settings, session: Session, dataset_id: str, metadata: dict[str, Any]
) -> Dataset:
    """Rules 2 and 5: re-sync the draft before the first publication, never after."""
    _check_draft_metadata(metadata)
    dataset = _live(get_dataset(session, dataset_id, for_update=True))
    dataset.draft_metadata = metadata
    concept = concept_doi_of(session, dataset.id, for_update=True)
    # Rule 5: once a version is out, the concept follows the versions, not the draft.
    if dataset.embargoed or concept is None or _has_live_versions(dataset):
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
    dataset = _live(get_dataset(session, dataset_id, for_update=True))
    if not dataset.embargoed:
        raise ConflictError(f"dataset {dataset_id!r} is not embargoed")
    dataset.embargoed = False
    _create_concept_doi(settings, session, dataset)
    if settings.datacite_configured:
        for version in dataset.versions:
            if version.deleted_at is None:
                _publish_dois(settings, session, dataset, version)
    return dataset


def delete_dataset(settings: Settings, session: Session, dataset_id: str) -> Dataset:
    """Rules 3 and 8: drafts are deleted, findable DOIs hidden at the tombstone."""
    dataset = _live(get_dataset(session, dataset_id, for_update=True))
    dataset.deleted_at = utcnow()
    for version in dataset.versions:
        version.deleted_at = version.deleted_at or dataset.deleted_at
    session.flush()
    holds.release_unreferenced(session, settings, [b for v in dataset.versions for b in v.blobs])
    for doi in _dois_of(session, dataset.id):
        _retire(settings, session, doi)
    return dataset


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
    dataset = _live(get_dataset(session, dataset_id, for_update=True, blobs=False))
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
        version_doi, concept = _publish_dois(settings, session, dataset, version)
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
    dataset = _live(get_dataset(session, dataset_id, for_update=True))
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
    dataset = _live(get_dataset(session, dataset_id, for_update=True))
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
        _retire(settings, session, version_doi)
    concept = concept_doi_of(session, dataset.id, for_update=True)
    if concept is None:
        return dataset
    if not _has_live_versions(dataset):
        # Rule 7: no version remains. A concept DataCite made public, or may have (its
        # publish in flight), or that a version may cite, is hidden; one that never left
        # draft goes back to being a draft of the dataset's draft metadata.
        retired = retire_target(session, concept)
        concept.target = retired if retired == DoiTarget.REGISTERED.value else DoiTarget.DRAFT.value
        session.flush()
    request_sync(session, settings, concept)
    return dataset


def create_missing_concept(settings: Settings, session: Session, dataset: Dataset) -> Doi | None:
    """Remediation: the concept DOI of a public dataset made before DataCite was configured."""
    if dataset.embargoed or dataset.deleted_at is not None:
        return None
    if concept_doi_of(session, dataset.id) is not None:
        return None
    return _create_concept_doi(settings, session, dataset)


def create_missing_version_doi(
    settings: Settings, session: Session, dataset: Dataset, version: Version
) -> Doi | None:
    """Remediation: the version DOI of a live version published before DataCite was configured.

    As at an unembargo: the version DOI heads for findable (draft while DOI_PUBLISH is
    false), the concept (created if missing) following it.
    """
    live = dataset.deleted_at is None and version.deleted_at is None
    if dataset.embargoed or not live or not settings.datacite_configured:
        return None
    if session.scalar(select(Doi.id).where(Doi.version_id == version.id)) is not None:
        return None
    version_doi, _ = _publish_dois(settings, session, dataset, version)
    return version_doi


def _create_concept_doi(
    settings: Settings, session: Session, dataset: Dataset, *, new_dataset: bool = False
) -> Doi | None:
    if not settings.datacite_configured:
        return None
    if not new_dataset and concept_doi_of(session, dataset.id) is not None:
        return None
    doi = Doi(
        doi=identifiers.concept_doi(
            settings.datacite_prefix or "", settings.doi_instance, dataset.id
        ),
        kind=DoiKind.CONCEPT.value,
        dataset_id=dataset.id,
        state=DoiState.PENDING.value,
        target=DoiTarget.DRAFT.value,
        history=[],
    )
    session.add(doi)
    session.flush()
    set_committed_value(dataset, "concept_doi", doi)
    queue_first_sync(session, settings, doi)
    return doi


def _publish_dois(
    settings: Settings, session: Session, dataset: Dataset, version: Version
) -> tuple[Doi, Doi | None]:
    # DOI_PUBLISH=false: drafts only; remediation promotes them later.
    target = DoiTarget.FINDABLE if settings.doi_publish else DoiTarget.DRAFT
    version_doi = Doi(
        doi=identifiers.version_doi(
            settings.datacite_prefix or "", settings.doi_instance, dataset.id, version.name
        ),
        kind=DoiKind.VERSION.value,
        dataset_id=dataset.id,
        version_id=version.id,
        state=DoiState.PENDING.value,
        target=target.value,
        history=[],
    )
    session.add(version_doi)
    concept = concept_doi_of(session, dataset.id, for_update=True) or _create_concept_doi(
        settings, session, dataset
    )
    if concept is not None and concept.target != DoiTarget.DELETED.value:
        concept.target = target.value
        if concept.state == DoiState.FAILED.value:
            dois.redrive(settings, session, concept, reason="new version published")
    session.flush()
    # The concept cites the version, so it is synced once the version DOI is confirmed.
    # While its blobs are not all held, the last hold to turn on queues it (data
    # immutable before citable); holds already on (unembargo) let it go now.
    if not (settings.s3_configured and holds.waiting_for_holds(session, version.id)):
        queue_first_sync(session, settings, version_doi)
    return version_doi, concept


def _retire(settings: Settings, session: Session, doi: Doi) -> None:
    """Delete a DOI DataCite never made public; hide one that is or may be (see retire_target).

    Also for a DOI hidden earlier: its URL now points at the tombstone (rule 8).
    """
    if doi.state == DoiState.DELETED.value:
        return
    doi.target = retire_target(session, doi)
    session.flush()
    request_sync(session, settings, doi)


def _dois_of(session: Session, dataset_id: str) -> list[Doi]:
    # Versions before the concept: the order a worker recording a version locks them in,
    # so the two can never deadlock.
    query = select(Doi).where(Doi.dataset_id == dataset_id)
    ordered = query.order_by(Doi.kind == DoiKind.CONCEPT.value, Doi.id).with_for_update()
    return list(session.scalars(ordered))


def _has_live_versions(dataset: Dataset) -> bool:
    return any(v.deleted_at is None for v in dataset.versions)


def _live(dataset: Dataset) -> Dataset:
    if dataset.deleted_at is not None:
        raise ConflictError(f"dataset {dataset.id!r} is deleted")
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


def _check_draft_metadata(metadata: dict[str, Any]) -> None:
    problems = kernel4_problems(metadata, complete=False)
    if problems:
        raise UnprocessableError(
            "metadata has fields of the wrong DataCite kernel-4 shape", problems
        )
