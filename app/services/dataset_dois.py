"""The DOIs a dataset's changes create or retire (DESIGN rules 1, 4, 6, 8), remediation's too.

Like the lifecycle services these take the caller's Session and never commit: they set
a DOI's `target` and queue a sync intent; workers make the calls.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.config import Settings
from app.db import insert_as_loaded
from app.enums import DoiKind, DoiState, DoiTarget
from app.models import Dataset, Doi, Version
from app.services import dois, holds, identifiers
from app.services.doi_policy import queue_first_sync, request_sync, retire_target
from app.services.payloads import concept_doi_of


def create_missing_concept(settings: Settings, session: Session, dataset: Dataset) -> Doi | None:
    """Remediation: the concept DOI of a public dataset made before DataCite was configured."""
    if dataset.embargoed or dataset.deleted_at is not None:
        return None
    if concept_doi_of(session, dataset.id) is not None:
        return None
    return create_concept_doi(settings, session, dataset)


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
    version_doi, _ = publish_dois(settings, session, dataset, version)
    return version_doi


def create_concept_doi(
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
    if new_dataset:
        insert_as_loaded(session, doi)  # the create path: no flush (see insert_as_loaded)
    else:
        session.add(doi)
        session.flush()
    set_committed_value(dataset, "concept_doi", doi)
    queue_first_sync(session, settings, doi)
    return doi


def publish_dois(
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
    concept = concept_doi_of(session, dataset.id, for_update=True) or create_concept_doi(
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


def retire(settings: Settings, session: Session, doi: Doi) -> None:
    """Delete a DOI DataCite never made public; hide one that is or may be (see retire_target).

    Also for a DOI hidden earlier: its URL now points at the tombstone (rule 8).
    """
    if doi.state == DoiState.DELETED.value:
        return
    doi.target = retire_target(session, doi)
    session.flush()
    request_sync(session, settings, doi)


def dois_of(session: Session, dataset_id: str) -> list[Doi]:
    # Versions before the concept: the order a worker recording a version locks them in,
    # so the two can never deadlock.
    query = select(Doi).where(Doi.dataset_id == dataset_id)
    ordered = query.order_by(Doi.kind == DoiKind.CONCEPT.value, Doi.id).with_for_update()
    return list(session.scalars(ordered))
