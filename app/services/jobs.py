"""Publish jobs: a run with ordered steps, each reporting its own status."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.enums import DoiState, DoiTarget, JobStatus, StepStatus
from app.models import Doi, Job, JobStep, Version

OPEN_STEP = (StepStatus.PENDING.value, StepStatus.IN_PROGRESS.value)
CLOSED_STEP = (StepStatus.DONE.value, StepStatus.SKIPPED.value)
RETIRED = (DoiTarget.DELETED.value, DoiTarget.REGISTERED.value)


def start_publish_job(
    session: Session, version: Version, *, version_doi: Doi | None, concept_doi: Doi | None
) -> Job:
    """A job whose steps follow the version DOI, then the concept DOI."""
    job = Job(kind="publish", dataset_id=version.dataset_id, version_id=version.id)
    for position, (name, doi) in enumerate(
        (("version_doi", version_doi), ("concept_doi", concept_doi))
    ):
        status = StepStatus.IN_PROGRESS if doi is not None else StepStatus.SKIPPED
        job.steps.append(
            JobStep(
                name=name,
                position=position,
                status=status.value,
                doi_id=doi.id if doi else None,
                total_count=1,
            )
        )
    session.add(job)
    _settle_job(job)
    session.flush()
    return job


def on_doi_changed(session: Session, doi: Doi, *, settled: bool) -> None:
    """Close the open steps that wait on `doi` (and on its siblings) once they are settled."""
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
        _settle_job(step.job)


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


def _settle_job(job: Job) -> None:
    statuses = {step.status for step in job.steps}
    if StepStatus.FAILED.value in statuses:
        job.status = JobStatus.FAILED.value
        job.finished_at = job.finished_at or utcnow()
        for step in job.steps:
            if step.status in OPEN_STEP:
                step.status = StepStatus.SKIPPED.value
                step.error = "not reached: an earlier step failed"
    elif statuses <= set(CLOSED_STEP):
        job.status = JobStatus.FINISHED.value
        job.finished_at = job.finished_at or utcnow()
