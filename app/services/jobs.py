"""Publish jobs: a run with ordered steps, each reporting its own status.

The steps, in order: `verify_blobs` and `legal_holds` (closed by the hold handlers,
`hold_progress`), then `version_doi` and `concept_doi` (closed as their DOIs settle).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.enums import DoiKind, DoiState, DoiTarget, JobStatus, StepStatus
from app.models import Doi, Job, JobStep, Version

OPEN_STEP = (StepStatus.PENDING.value, StepStatus.IN_PROGRESS.value)
CLOSED_STEP = (StepStatus.DONE.value, StepStatus.SKIPPED.value)
RETIRED = (DoiTarget.DELETED.value, DoiTarget.REGISTERED.value)
VERIFY, HOLDS, VERSION_DOI, CONCEPT_DOI = (
    "verify_blobs",
    "legal_holds",
    "version_doi",
    "concept_doi",
)
NO_S3 = "S3 is not configured (S3_BUCKET is unset): published data is not protected by legal holds"
NOT_REACHED = "not reached: an earlier step failed"


def start_publish_job(
    session: Session,
    version: Version,
    *,
    version_doi: Doi | None,
    concept_doi: Doi | None,
    s3: bool = False,
) -> Job:
    """A job whose steps verify and hold the blobs, then follow the version and concept DOIs."""
    # created_at set here, not by the column default at INSERT time: a job finished at
    # once (nothing to do) must not show a finished_at microseconds before it.
    job = Job(
        kind="publish", dataset_id=version.dataset_id, version_id=version.id, created_at=utcnow()
    )
    blobs = len(version.blobs)
    # Without blobs nothing needs checking or holding: those steps are done at once.
    first = StepStatus.IN_PROGRESS if s3 and blobs else StepStatus.DONE
    waits = StepStatus.PENDING if s3 and blobs else StepStatus.DONE
    for name, status in ((VERIFY, first), (HOLDS, waits)):
        step = JobStep(name=name, position=len(job.steps), status=status.value, total_count=blobs)
        if not s3:
            step.status, step.error = StepStatus.SKIPPED.value, NO_S3
        job.steps.append(step)
    for name, doi in ((VERSION_DOI, version_doi), (CONCEPT_DOI, concept_doi)):
        status = StepStatus.SKIPPED if doi is None else StepStatus.IN_PROGRESS
        if doi is not None and waits is StepStatus.PENDING:
            status = StepStatus.PENDING  # the DOIs wait for the holds
        job.steps.append(
            JobStep(
                name=name,
                position=len(job.steps),
                status=status.value,
                doi_id=doi.id if doi else None,
                total_count=1,
            )
        )
    session.add(job)
    settle_job(job)
    session.flush()
    return job


def lock_job(session: Session, job_id: int) -> Job | None:
    """The job row locked, it and its steps freshly read (closing a step races other workers)."""
    return read_job(session, job_id, lock=True)


def read_job(session: Session, job_id: int, *, lock: bool = False) -> Job | None:
    """The job and its steps freshly read; locked (FOR UPDATE) only when `lock`."""
    job = session.get(Job, job_id, with_for_update=lock or None, populate_existing=True)
    if job is not None:
        session.scalars(
            select(JobStep)
            .where(JobStep.job_id == job_id)
            .execution_options(populate_existing=True)
        ).all()
    return job


def step_named(job: Job, name: str) -> JobStep | None:
    """The job's step called `name` (jobs from before the holds have no hold steps)."""
    return next((step for step in job.steps if step.name == name), None)


def close_step(job: Job, step: JobStep, status: StepStatus, error: str | None = None) -> None:
    """Close one step (done, failed or skipped) and settle the job; the job row is locked."""
    step.status = status.value
    step.error = error
    if status is StepStatus.DONE:
        step.done_count = step.total_count
    settle_job(job)


def reopen(job: Job) -> None:
    """A failed job goes back to work: failed and never-reached steps wait again."""
    job.status = JobStatus.IN_PROGRESS.value
    job.finished_at = None
    for step in job.steps:
        if step.status == StepStatus.FAILED.value or step.error == NOT_REACHED:
            step.status = StepStatus.PENDING.value
            step.error = None


def on_doi_changed(session: Session, doi: Doi, *, settled: bool) -> None:
    """Close the open steps that wait on `doi` (and on its siblings) once they are settled."""
    if doi.kind == DoiKind.CONCEPT.value and not doi.dataset.versions:
        return  # jobs are publish runs: a dataset without versions has none
    job_ids = set(
        session.scalars(
            select(JobStep.job_id).where(JobStep.doi_id == doi.id, JobStep.status.in_(OPEN_STEP))
        )
    )
    if not job_ids:
        return
    # Two workers closing two steps of one job at once would each see the other still
    # open and neither settle the job: the job row is locked first, then every open step
    # of it is re-read (populate_existing) and re-judged, whichever DOI changed.
    session.scalars(
        select(Job.id).where(Job.id.in_(job_ids)).order_by(Job.id).with_for_update()
    ).all()
    steps = session.scalars(
        select(JobStep)
        .where(JobStep.job_id.in_(job_ids))
        .order_by(JobStep.job_id, JobStep.position)
        .execution_options(populate_existing=True)
    ).all()
    for step in steps:
        if step.status not in OPEN_STEP or step.doi_id is None:
            continue
        if step.doi_id == doi.id:
            _judge(step, doi, settled=settled)
        else:
            sibling = session.get(Doi, step.doi_id, populate_existing=True)
            if sibling is not None:
                _judge(
                    step,
                    sibling,
                    settled=sibling.state == sibling.target and not sibling.needs_look,
                )
        settle_job(step.job)


def _judge(step: JobStep, doi: Doi, *, settled: bool) -> None:
    if doi.state == DoiState.FAILED.value:
        step.status = StepStatus.FAILED.value
        step.error = doi.last_error
    elif settled and doi.target in RETIRED:
        # Deleted before it was published: this run will not finish it.
        step.status = StepStatus.SKIPPED.value
        step.error = f"the DOI was retired ({doi.state}) before the step finished"
    elif settled and doi.state == doi.target and _earlier_steps_closed(step):
        # A concept step waits for its own version: an earlier sync of the same
        # concept settling first must not close it.
        step.status = StepStatus.DONE.value
        step.done_count = step.total_count


def _earlier_steps_closed(step: JobStep) -> bool:
    return all(s.status in CLOSED_STEP for s in step.job.steps if s.position < step.position)


def settle_job(job: Job) -> None:
    """Failed when a step failed (the open ones are then not reached), finished when all closed."""
    statuses = {step.status for step in job.steps}
    if StepStatus.FAILED.value in statuses:
        job.status = JobStatus.FAILED.value
        job.finished_at = job.finished_at or _finish_time(job)
        for step in job.steps:
            if step.status in OPEN_STEP:
                step.status = StepStatus.SKIPPED.value
                step.error = NOT_REACHED
    elif statuses <= set(CLOSED_STEP):
        job.status = JobStatus.FINISHED.value
        job.finished_at = job.finished_at or _finish_time(job)


def _finish_time(job: Job) -> datetime:
    """Now, and never before the job was created: a worker's clock may lag the web's."""
    now = utcnow()
    return max(now, job.created_at) if job.created_at is not None else now
