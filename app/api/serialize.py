"""The JSON shapes of datasets, versions, DOIs and jobs (read-only, in the view's transaction)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import Dataset, Doi, DoiTransition, Job, JobStep, LegalHold, Stash, Version
from app.services import holds, stash
from app.services.dataset_listing import DatasetRow

NO_HOLDS = {"on": 0, "total": 0}


def dataset_json(session: Session, dataset: Dataset) -> dict[str, Any]:
    """`{"id", "embargoed", "deleted", "metadata", "concept_doi", "versions"}`."""
    ids = [v.id for v in dataset.versions]
    by_version, held = version_dois(session, ids), holds.counts(session, ids)
    return {
        "id": dataset.id,
        "embargoed": dataset.embargoed,
        "deleted": dataset.deleted_at is not None,
        "metadata": dataset.draft_metadata,
        "concept_doi": doi_brief(dataset.concept_doi),
        "versions": [
            version_json(v, by_version.get(v.id), held.get(v.id)) for v in dataset.versions
        ],
    }


def dataset_row_json(row: DatasetRow) -> dict[str, Any]:
    """`{"id", "embargoed", "deleted", "concept_doi"}`: a dataset in a listing."""
    return {
        "id": row.id,
        "embargoed": row.embargoed,
        "deleted": row.deleted,
        "concept_doi": doi_brief(row.concept_doi),
    }


def version_json(
    version: Version, doi: Doi | None, held: dict[str, int] | None = None
) -> dict[str, Any]:
    """`{"version", "deleted", "created_at", "doi", "holds": {"on", "total"}}`."""
    return {
        "version": version.name,
        "deleted": version.deleted_at is not None,
        "created_at": timestamp(version.created_at),
        "doi": doi_brief(doi),
        "holds": held or NO_HOLDS,
    }


def hold_json(hold: LegalHold) -> dict[str, Any]:
    """A legal hold with where it stands, why, and its whole history."""
    return {
        "key": hold.blob.key,
        "version_id": hold.blob.version_id,
        "state": hold.state,
        "target": hold.target,
        "release_reason": hold.release_reason,
        "last_error": hold.last_error,
        "history": [
            {
                "at": timestamp(t.at),
                "event": t.event,
                "from": t.from_state,
                "to": t.to_state,
                "intent_id": t.intent_id,
                "detail": t.detail,
            }
            for t in hold.history
        ],
    }


def version_dois(session: Session, version_ids: list[int]) -> dict[int, Doi]:
    """The DOIs of these versions, by version id, in one query."""
    if not version_ids:
        return {}
    rows = session.scalars(select(Doi).where(Doi.version_id.in_(version_ids)))
    return {doi.version_id: doi for doi in rows if doi.version_id is not None}


def doi_brief(doi: Doi | None) -> dict[str, Any] | None:
    """`{"doi", "state", "target"}`, or None when there is no DOI (embargo, DataCite off)."""
    if doi is None:
        return None
    return {"doi": doi.doi, "state": doi.state, "target": doi.target}


def doi_json(doi: Doi, *, stashes: list[Stash] | None = None) -> dict[str, Any]:
    """A DOI with where it stands, why, its whole history and its stashes (newest first)."""
    now = utcnow()
    return {
        "doi": doi.doi,
        "kind": doi.kind,
        "dataset": doi.dataset_id,
        "version": doi.version.name if doi.version is not None else None,
        "state": doi.state,
        "target": doi.target,
        "attempts": doi.attempts,
        "next_attempt_at": timestamp(doi.next_attempt_at),
        "last_status": doi.last_status,
        "last_error": doi.last_error,
        "history": [transition_json(t) for t in doi.history],
        "stashes": [stash.describe(s, now=now) for s in stashes or []],
    }


def transition_json(transition: DoiTransition) -> dict[str, Any]:
    """One recorded state change."""
    return {
        "at": timestamp(transition.at),
        "event": transition.event,
        "from": transition.from_state,
        "to": transition.to_state,
        "intent_id": transition.intent_id,
        "http_status": transition.http_status,
        "detail": transition.detail,
    }


def job_json(session: Session, job: Job) -> dict[str, Any]:
    """A job and its steps."""
    version = session.get(Version, job.version_id) if job.version_id is not None else None
    return {
        "id": job.id,
        "kind": job.kind,
        "dataset": job.dataset_id,
        "version": version.name if version is not None else None,
        "status": job.status,
        "created_at": timestamp(job.created_at),
        "finished_at": timestamp(job.finished_at),
        "steps": [step_json(step) for step in job.steps],
    }


def step_json(step: JobStep) -> dict[str, Any]:
    """One step of a job, with its progress counts."""
    return {
        "name": step.name,
        "status": step.status,
        "done": step.done_count,
        "total": step.total_count,
        "error": step.error,
        "problems": step.problems,
    }


def timestamp(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC, or None."""
    return moment.isoformat() if moment is not None else None
