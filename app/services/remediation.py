"""Bringing the database's intent back in line after a configuration change or an outage.

`plan` lists the steps (reading only); `apply` takes one step in the caller's
transaction, re-checking it under lock, and only ever sets targets, creates DOI rows and
queues `sync_doi` intents: the workers make every DataCite call, through the shared
rate limit. Embargoed datasets are never part of a plan, and a step whose dataset is
embargoed by the time it runs is skipped: their metadata never leaves the service.

Step kinds, in the order they run:
- `create_concept`: a public dataset with no concept DOI (DataCite was not configured);
- `create_version_doi`: a live version of a public dataset with no version DOI;
- `promote`: a version DOI left a draft while DOI_PUBLISH was false (and its concept);
- `redrive`: a failed DOI matching the filter (`--state failed [--error-like TEXT]`);
- `resync`: a DOI short of its target that no intent is moving.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, and_, cast, exists, literal, select
from sqlalchemy.orm import Session, aliased

from app.config import Settings
from app.enums import DoiKind, DoiState, DoiTarget, IntentStatus
from app.models import Dataset, Doi, Intent, Version
from app.services import dataset_dois, dois
from app.services.doi_policy import needs_call, request_sync

KINDS = ("create_concept", "create_version_doi", "promote", "redrive", "resync")
OPEN = (IntentStatus.PENDING.value, IntentStatus.ENQUEUED.value)
SETTLED = (DoiState.FAILED.value, DoiState.DELETED.value)


@dataclass(frozen=True)
class Step:
    """One thing remediation will do."""

    kind: str
    dataset_id: str
    version_id: int | None = None
    doi_id: int | None = None
    doi: str | None = None
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "dataset": self.dataset_id,
            "doi": self.doi,
            "detail": self.detail,
        }

    def describe(self) -> str:
        return f"{self.kind:<19} {self.dataset_id:<24} {self.doi or '-'}  {self.detail}".rstrip()


@dataclass(frozen=True)
class Filter:
    """Which steps to plan: `dataset_ids` (None: all), failed DOIs to re-drive, how many."""

    dataset_ids: tuple[str, ...] | None = None
    redrive_failed: bool = False
    error_like: str | None = None
    limit: int | None = None


def plan(session: Session, settings: Settings, chosen: Filter) -> list[Step]:
    """Every step remediation would take now, in order (at most `chosen.limit`)."""
    if not settings.datacite_configured:
        return []
    found: list[Step] = []
    for planner in (_concepts, _version_dois, _promotions, _redrives, _resyncs):
        found.extend(planner(session, settings, chosen))
        if chosen.limit is not None and len(found) >= chosen.limit:
            return found[: chosen.limit]
    return found


def apply(session: Session, settings: Settings, step: Step) -> bool:
    """Take one step; False when it no longer applies (changed since it was planned)."""
    dataset = session.get(Dataset, step.dataset_id, with_for_update=True)
    if dataset is None or dataset.embargoed:
        return False
    if step.kind == "create_concept":
        return dataset_dois.create_missing_concept(settings, session, dataset) is not None
    if step.kind == "create_version_doi":
        version = session.get(Version, step.version_id)
        if version is None:
            return False
        return (
            dataset_dois.create_missing_version_doi(settings, session, dataset, version) is not None
        )
    doi = session.get(Doi, step.doi_id, with_for_update=True, populate_existing=True)
    if doi is None:
        return False
    if step.kind == "promote":
        return _promote(session, settings, dataset, doi)
    if step.kind == "redrive":
        if doi.state != DoiState.FAILED.value:
            return False
        dois.redrive(settings, session, doi, reason="doiflow doi remediate")
        return True
    return request_sync(session, settings, doi) is not None


def _public(chosen: Filter) -> Any:
    conditions = [Dataset.embargoed.is_(False), Dataset.deleted_at.is_(None)]
    if chosen.dataset_ids is not None:
        conditions.append(Dataset.id.in_(chosen.dataset_ids))
    return and_(*conditions)


def _not_embargoed(chosen: Filter) -> Any:
    conditions = [Dataset.embargoed.is_(False)]
    if chosen.dataset_ids is not None:
        conditions.append(Dataset.id.in_(chosen.dataset_ids))
    return and_(*conditions)


def _bounded(query: Any, chosen: Filter) -> Any:
    return query if chosen.limit is None else query.limit(chosen.limit)


def _concepts(session: Session, settings: Settings, chosen: Filter) -> list[Step]:
    concept = exists().where(Doi.dataset_id == Dataset.id, Doi.kind == DoiKind.CONCEPT.value)
    query = select(Dataset.id).where(_public(chosen), ~concept).order_by(Dataset.id)
    return [
        Step("create_concept", dataset_id, detail="public dataset without a concept DOI")
        for dataset_id in session.scalars(_bounded(query, chosen))
    ]


def _version_dois(session: Session, settings: Settings, chosen: Filter) -> list[Step]:
    has_doi = exists().where(Doi.version_id == Version.id)
    query = (
        select(Version.dataset_id, Version.id, Version.name)
        .join(Dataset, Dataset.id == Version.dataset_id)
        .where(_public(chosen), Version.deleted_at.is_(None), ~has_doi)
        .order_by(Version.id)
    )
    return [
        Step("create_version_doi", dataset_id, version_id=vid, detail=f"version {name}")
        for dataset_id, vid, name in session.execute(_bounded(query, chosen))
    ]


def _promotions(session: Session, settings: Settings, chosen: Filter) -> list[Step]:
    if not settings.doi_publish:
        return []
    query = (
        select(Doi.dataset_id, Doi.id, Doi.doi)
        .join(Version, Version.id == Doi.version_id)
        .join(Dataset, Dataset.id == Doi.dataset_id)
        .where(
            _public(chosen),
            Version.deleted_at.is_(None),
            Doi.kind == DoiKind.VERSION.value,
            Doi.target == DoiTarget.DRAFT.value,
            Doi.state.not_in(SETTLED),
        )
        .order_by(Doi.id)
    )
    return [
        Step("promote", dataset_id, doi_id=doi_id, doi=doi, detail="draft -> findable")
        for dataset_id, doi_id, doi in session.execute(_bounded(query, chosen))
    ]


def _redrives(session: Session, settings: Settings, chosen: Filter) -> list[Step]:
    if not chosen.redrive_failed:
        return []
    query = (
        select(Doi.dataset_id, Doi.id, Doi.doi, Doi.last_error)
        .join(Dataset, Dataset.id == Doi.dataset_id)
        .where(_not_embargoed(chosen), Doi.state == DoiState.FAILED.value)
        .order_by(Doi.id)
    )
    if chosen.error_like:
        query = query.where(Doi.last_error.ilike(f"%{chosen.error_like}%"))
    return [
        Step("redrive", dataset_id, doi_id=doi_id, doi=doi, detail=(error or "")[:80])
        for dataset_id, doi_id, doi, error in session.execute(_bounded(query, chosen))
    ]


def _resyncs(session: Session, settings: Settings, chosen: Filter) -> list[Step]:
    """DOIs short of their target with no open intent, that need a DataCite call."""
    open_sync = aliased(Intent)
    syncing = exists().where(
        open_sync.key == literal("doi:") + cast(Doi.id, String), open_sync.status.in_(OPEN)
    )
    query = (
        select(Doi)
        .join(Dataset, Dataset.id == Doi.dataset_id)
        # short of its target: the predicate of the partial index ix_dois_behind
        .where(_not_embargoed(chosen), Doi.state != Doi.target, Doi.state.not_in(SETTLED))
        .where(~syncing)
        .order_by(Doi.id)
    )
    return [
        Step(
            "resync",
            doi.dataset_id,
            doi_id=doi.id,
            doi=doi.doi,
            detail=f"{doi.state} -> {doi.target}",
        )
        for doi in session.scalars(_bounded(query, chosen))
        if needs_call(session, settings, doi)
    ]


def _promote(session: Session, settings: Settings, dataset: Dataset, doi: Doi) -> bool:
    """A draft version DOI of a live version heads for findable, and its concept follows."""
    version = doi.version
    live = dataset.deleted_at is None and version is not None and version.deleted_at is None
    if not (settings.doi_publish and live and doi.target == DoiTarget.DRAFT.value):
        return False
    if doi.state in SETTLED:
        return False
    doi.target = DoiTarget.FINDABLE.value
    session.flush()
    request_sync(session, settings, doi)
    concept = session.scalars(
        select(Doi)
        .where(Doi.dataset_id == dataset.id, Doi.kind == DoiKind.CONCEPT.value)
        .with_for_update()
    ).first()
    if concept is not None and concept.target == DoiTarget.DRAFT.value:
        concept.target = DoiTarget.FINDABLE.value
        session.flush()
        request_sync(session, settings, concept)
    return True
