"""Re-driving a failed publish job: it continues from where it stopped.

The archive may correct the records of blobs that failed verification (sha256, size)
in the same call. Blobs already verified are not checked again, holds already on are
not set again, and a failed hold or DOI is re-driven.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.config import Settings
from app.enums import DoiState, HoldState, JobStatus, StepStatus
from app.models import Doi, Job, Version
from app.services import dois, hold_progress, holds, jobs
from app.services.errors import ConflictError, NotFoundError

REASON = "publish job re-driven"


def redrive(
    settings: Settings, session: Session, job_id: int, corrections: list[dict[str, Any]]
) -> Job:
    """failed → in_progress: corrected records re-verified, failed holds and DOIs re-driven."""
    job = jobs.lock_job(session, job_id)
    if job is None:
        raise NotFoundError(f"job {job_id} does not exist")
    if job.status != JobStatus.FAILED.value:
        raise ConflictError(f"job {job_id} is {job.status}; only failed jobs are re-driven")
    version = session.get(Version, job.version_id) if job.version_id is not None else None
    if version is None or version.deleted_at is not None:
        raise ConflictError(f"job {job_id}'s version is deleted; publish it again instead")
    _correct(session, version, corrections)
    verify = jobs.step_named(job, jobs.VERIFY)
    if verify is not None and verify.status == StepStatus.FAILED.value:
        verify.problems = []
    jobs.reopen(job)
    _redrive_failed(settings, session, job, version)
    _resume(settings, session, job, version)
    return job


def _correct(session: Session, version: Version, corrections: list[dict[str, Any]]) -> None:
    """The archive's corrected records; a held blob matched S3 when it was held, so it stays."""
    referenced = {(b.key, b.version_id): b for b in version.blobs}
    for spec in corrections:
        blob = referenced.get((spec["key"], spec["version_id"]))
        if blob is None:
            raise NotFoundError(
                f"the job's version does not reference blob {spec['key']!r} "
                f"version {spec['version_id']!r}"
            )
        session.refresh(blob, with_for_update=True)
        if blob.hold is not None and blob.hold.state == HoldState.ON.value:
            raise ConflictError(
                f"blob {blob.key!r} version {blob.version_id!r} is held: S3 showed it as "
                "recorded when it was held, so its record cannot change"
            )
        if (blob.sha256, blob.size) != (spec["sha256"], spec["size"]):
            blob.sha256, blob.size, blob.verified_at = spec["sha256"], spec["size"], None


def _redrive_failed(settings: Settings, session: Session, job: Job, version: Version) -> None:
    failed = [b.hold for b in version.blobs if b.hold and b.hold.state == HoldState.FAILED.value]
    for hold in holds.locked_holds(session, [h.id for h in failed]):
        holds.rearm(hold, REASON)
    for step in job.steps:
        doi = session.get(Doi, step.doi_id) if step.doi_id is not None else None
        if doi is not None and doi.state == DoiState.FAILED.value:
            session.refresh(doi, with_for_update=True)
            dois.redrive(settings, session, doi, reason=REASON)


def _resume(settings: Settings, session: Session, job: Job, version: Version) -> None:
    """Pick the work up at the first open step."""
    session.flush()
    verify = jobs.step_named(job, jobs.VERIFY)
    if verify is not None and verify.status == StepStatus.PENDING.value:
        verify.status = StepStatus.IN_PROGRESS.value
        hold_progress.begin(session, settings, job)
        return
    step = jobs.step_named(job, jobs.HOLDS)
    if step is not None and step.status == StepStatus.PENDING.value:
        hold_progress.start_holds(session, settings, job, version)
        return
    hold_progress.advance_dois(session, settings, job)
