"""The DataCite attributes a DOI should carry, derived from the archive's current data.

Actors call this at the moment they act, so they always send the latest desired
metadata rather than whatever was true when the intent was written.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.enums import DoiKind, DoiState, DoiTarget
from app.models import Dataset, Doi, Version
from app.services.metadata import SCHEMA_VERSION, metadata_hash, normalise


def landing_url(settings: Settings, dataset_id: str, version: str | None = None) -> str:
    """The page a DOI resolves to; the concept URL drops the `{version}` segment."""
    template = settings.landing_url_template
    if version is None:
        template = template.replace("/{version}", "").replace("{version}", "")
    return template.format(dataset=dataset_id, version=version or "")


def tombstone_url(settings: Settings, dataset_id: str, doi: str) -> str:
    """Where a hidden DOI of a deleted dataset points (defaults to the landing page)."""
    template = settings.tombstone_url_template
    if template is None:
        return landing_url(settings, dataset_id)
    return template.format(dataset=dataset_id, doi=doi, version="")


def desired_url(settings: Settings, doi: Doi) -> str:
    """Where `doi` should resolve: its landing page, or the tombstone once the dataset is gone.

    Rule 8: every public DOI of a deleted dataset points at the tombstone, whatever
    state it is in (DataCite allows a URL update on a registered DOI).
    """
    if doi.dataset.deleted_at is not None:
        return tombstone_url(settings, doi.dataset_id, doi.doi)
    return landing_url(settings, doi.dataset_id, doi.version.name if doi.version else None)


def desired_attributes(session: Session, settings: Settings, doi: Doi) -> dict[str, Any]:
    """Everything DataCite should hold for `doi` right now (no `event`)."""
    if doi.version is not None:
        attributes = _version_attributes(session, doi, doi.version)
    else:
        attributes = _concept_attributes(session, doi)
    attributes["url"] = desired_url(settings, doi)
    attributes["doi"] = doi.doi
    attributes["schemaVersion"] = SCHEMA_VERSION
    return attributes


def desired_hash(session: Session, settings: Settings, doi: Doi) -> str:
    """Fingerprint of desired_attributes."""
    return metadata_hash(desired_attributes(session, settings, doi))


PUBLIC = (DoiState.FINDABLE.value, DoiState.REGISTERED.value)
AT_DATACITE = (DoiState.DRAFT.value, *PUBLIC)

# Set by doiflow from its own records, never taken from the archive's metadata.
OURS = ("doi", "prefix", "suffix", "event", "url", "state")


def _archive_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in normalise(metadata).items() if k not in OURS}


def _version_attributes(session: Session, doi: Doi, version: Version) -> dict[str, Any]:
    attributes = _archive_metadata(version.metadata_snapshot)
    attributes.setdefault("version", version.name)
    concept = concept_doi_of(session, version.dataset_id)
    # A draft never cites a DOI that may not resolve; a findable version names its concept
    # once DataCite has it (its creation failed or waits: the version is updated later).
    if (
        doi.target == DoiTarget.FINDABLE.value
        and concept is not None
        and concept.state in AT_DATACITE
    ):
        _add_relation(attributes, concept.doi, "IsVersionOf")
    return attributes


def _concept_attributes(session: Session, doi: Doi) -> dict[str, Any]:
    dataset: Dataset = doi.dataset
    live_versions = [v for v in dataset.versions if v.deleted_at is None]
    # Rule 6: the concept follows the latest remaining version. A concept retired with no
    # version left (the dataset deleted, or its last version) may still have to be
    # registered (a version cites it): it then carries the complete metadata of the last
    # version, never the draft's, which DataCite would refuse outside draft.
    to_register = doi.target == DoiTarget.REGISTERED.value and (
        doi.state in PUBLIC or versions_may_cite_concept(session, dataset.id)
    )
    retired = dataset.deleted_at is not None or to_register
    followed = live_versions or (dataset.versions if retired else [])
    if not followed:
        return _archive_metadata(dataset.draft_metadata)
    attributes = _archive_metadata(followed[-1].metadata_snapshot)
    attributes.pop("version", None)
    for version_doi in _findable_version_dois(session, [v.id for v in live_versions]):
        _add_relation(attributes, version_doi, "HasVersion")
    return attributes


def has_findable_version(session: Session, dataset_id: str) -> bool:
    """True when one of the dataset's live versions has a findable DOI."""
    return (
        session.scalar(
            select(Doi.id)
            .join(Version, Version.id == Doi.version_id)
            .where(
                Doi.dataset_id == dataset_id,
                Doi.state == DoiState.FINDABLE.value,
                Version.deleted_at.is_(None),
            )
            .limit(1)
        )
        is not None
    )


def versions_may_cite_concept(session: Session, dataset_id: str) -> bool:
    """True when a version DOI may have been sent to DataCite citing the concept (IsVersionOf).

    Such a concept must go on resolving: it is registered and hidden, never deleted.
    A version DOI headed for findable whose publish was sent without an answer yet (in
    flight, or its answer lost: `in_doubt`) counts as much as one DataCite confirmed.
    """
    public = (DoiState.FINDABLE.value, DoiState.REGISTERED.value)
    wanted = (DoiTarget.FINDABLE.value, DoiTarget.REGISTERED.value)
    return (
        session.scalar(
            select(Doi.id)
            .where(
                Doi.dataset_id == dataset_id,
                Doi.kind == DoiKind.VERSION.value,
                Doi.state.in_(public) | (Doi.in_doubt_since.is_not(None) & Doi.target.in_(wanted)),
            )
            .limit(1)
        )
        is not None
    )


def concept_doi_of(session: Session, dataset_id: str, *, for_update: bool = False) -> Doi | None:
    """The dataset's concept DOI row, if it has one."""
    query = select(Doi).where(Doi.dataset_id == dataset_id, Doi.kind == DoiKind.CONCEPT.value)
    if for_update:  # locked, and read afresh: what another transaction just committed
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalars(query).first()


def _findable_version_dois(session: Session, version_ids: list[int]) -> list[str]:
    return list(
        session.scalars(
            select(Doi.doi)
            .where(Doi.version_id.in_(version_ids), Doi.state == DoiState.FINDABLE.value)
            .order_by(Doi.version_id)
        )
    )


def _add_relation(attributes: dict[str, Any], doi: str, relation: str) -> None:
    related = [dict(r) for r in attributes.get("relatedIdentifiers") or []]
    entry = {"relatedIdentifier": doi, "relatedIdentifierType": "DOI", "relationType": relation}
    if entry not in related:
        related.append(entry)
    attributes["relatedIdentifiers"] = related
