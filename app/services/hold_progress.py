"""A publish job's way through its steps: verify the blobs, hold them, then the DOIs.

Called in the transaction that changed something (a publication, a verified batch, a
confirmed hold) with the job row locked, so two workers closing two batches of one
job never both see the other still open.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.enums import DoiState, DoiTarget, HoldState, StepStatus
from app.models import Blob, Doi, Job, JobStep, LegalHold, Version, version_blobs
from app.services import holds, jobs
from app.services.doi_policy import request_sync
from app.topics import VERIFY_BLOBS

MAX_ERROR = 4000


def begin(session: Session, settings: Settings, job: Job, *, new_job: bool = False) -> None:
    """Queue the verification of the blobs not yet verified, or go straight on to the holds.

    `new_job`: the job was created in this transaction, so no intent of its can be waiting
    and its batches are inserted at once, without a coalescing lookup each.
    """
    step = jobs.step_named(job, jobs.VERIFY)
    if step is None or step.status != StepStatus.IN_PROGRESS.value:
        return
    version = _version(session, job)
    todo = sorted(b.id for b in version.blobs if not verified_for(job, b))
    step.done_count = step.total_count - len(todo)
    if todo:
        queue = holds.queue_fresh_batches if new_job else holds.queue_batches
        queue(
            session, VERIFY_BLOBS, f"verify:{job.id}", todo, settings.hold_batch_size, job_id=job.id
        )
        return
    on_verified(session, settings, job)


def verified_for(job: Job, blob: Blob) -> bool:
    """True when S3 showed the blob as recorded during this job, or it is held since (immutable)."""
    if blob.verified_at is None:
        return False
    held = blob.hold is not None and blob.hold.state == HoldState.ON.value
    return held or blob.verified_at >= job.created_at


def on_verified(session: Session, settings: Settings, job: Job) -> None:
    """Count verified blobs; once every blob has an answer, fail with the bad ones or hold."""
    step = jobs.step_named(job, jobs.VERIFY)
    if step is None or step.status not in jobs.OPEN_STEP:
        return
    # One COUNT, not a walk over the version's blobs: this runs after every batch.
    step.done_count = _verified_count(session, job)
    if step.done_count + len(step.problems) < step.total_count:
        return
    if step.problems:
        jobs.close_step(job, step, StepStatus.FAILED, describe_problems(step))
        return
    jobs.close_step(job, step, StepStatus.DONE)
    start_holds(session, settings, job, _version(session, job))


def describe_problems(step: JobStep) -> str:
    """What a person reads: which blob versions differ from S3, and how."""
    listed = "; ".join(f"{p['key']}@{p['version_id']}: {p['problem']}" for p in step.problems)
    text = (
        f"{len(step.problems)} of {step.total_count} blob version(s) do not match S3, so "
        f"nothing was held and no DOI published: {listed}. Fix the record(s) and re-drive "
        "the job (POST /api/jobs/{id}/retry)"
    )
    return text[:MAX_ERROR]


def start_holds(session: Session, settings: Settings, job: Job, version: Version) -> None:
    """Every blob matched: queue the holds S3 does not have yet."""
    step = jobs.step_named(job, jobs.HOLDS)
    if step is None or step.status not in jobs.OPEN_STEP:
        return
    step.status = StepStatus.IN_PROGRESS.value
    wanted = [b.hold for b in version.blobs if b.hold is not None]
    holds.queue_apply(session, settings, [h.id for h in wanted if holds.needs_call(h)])
    holds_progress(session, settings, job)


def on_holds_changed(session: Session, settings: Settings, blob_ids: Iterable[int]) -> None:
    """Recount the hold steps of every job waiting on these holds; sync the DOIs they held up."""
    blob_ids = set(blob_ids)
    versions = select(version_blobs.c.version_id).where(version_blobs.c.blob_id.in_(blob_ids))
    waiting = session.scalars(
        select(JobStep.job_id)
        .join(Job, Job.id == JobStep.job_id)
        .where(
            JobStep.name == jobs.HOLDS,
            JobStep.status == StepStatus.IN_PROGRESS.value,
            Job.version_id.in_(versions),
        )
    ).all()
    for job_id in sorted(set(waiting)):
        job = jobs.lock_job(session, job_id)
        if job is not None:
            holds_progress(session, settings, job)
    _sync_waiting_dois(session, settings, versions)


def _sync_waiting_dois(session: Session, settings: Settings, versions: Any) -> None:
    """Version DOIs no job step follows (unembargoed, fixed by verify) get their sync too.

    A DOI whose version still waits for a hold is left out in SQL: its decision would be
    NONE (never findable before every hold is on), and working that out builds its whole
    DataCite document, after every batch. One in doubt still gets its look.
    """
    not_yet = (
        select(LegalHold.id)
        .join(version_blobs, version_blobs.c.blob_id == LegalHold.blob_id)
        .where(version_blobs.c.version_id == Doi.version_id, LegalHold.state.in_(holds.NOT_YET))
        .exists()
    )
    waiting = session.scalars(
        select(Doi).where(
            Doi.version_id.in_(versions),
            Doi.target == DoiTarget.FINDABLE.value,
            Doi.state.not_in((DoiState.FINDABLE.value, DoiState.FAILED.value)),
            ~not_yet | Doi.in_doubt_since.is_not(None),
        )
    )
    for doi in waiting:
        request_sync(session, settings, doi)  # coalesced


def holds_progress(session: Session, settings: Settings, job: Job) -> None:
    """done = holds on; failed when one failed; done, and the DOIs may go, when all are on."""
    step = jobs.step_named(job, jobs.HOLDS)
    if step is None or step.status != StepStatus.IN_PROGRESS.value:
        return
    # A column, not the Version: loading it would load every blob, hold and transition.
    deleted = session.scalar(select(Version.deleted_at).where(Version.id == job.version_id))
    if deleted is not None:
        # Deleted before its holds were all on: they are being released, not set.
        jobs.close_step(job, step, StepStatus.SKIPPED, "the version was deleted first")
        advance_dois(session, settings, job)
        return
    counts = _hold_counts(session, job)
    # A hold the backdoor released is settled too: a person decided it stays off.
    step.done_count = sum(counts.get((HoldState.ON.value, b), 0) for b in (False, True)) + (
        counts.get((HoldState.RELEASED.value, True), 0)
    )
    failing = any(state == HoldState.FAILED.value for state, _ in counts)
    failed = _failed_holds(session, job) if failing else []
    if failed:
        listed = "; ".join(f"{b.key}@{b.version_id}: {h.last_error}" for h, b in failed)
        error = f"{len(failed)} of {step.total_count} legal hold(s) failed: {listed}"
        jobs.close_step(job, step, StepStatus.FAILED, error[:MAX_ERROR])
    elif step.done_count >= step.total_count:
        jobs.close_step(job, step, StepStatus.DONE)
        advance_dois(session, settings, job)


def advance_dois(session: Session, settings: Settings, job: Job) -> None:
    """The holds are on: sync the version DOI (it waited for them), then the concept."""
    for name in (jobs.VERSION_DOI, jobs.CONCEPT_DOI):
        step = jobs.step_named(job, name)
        if step is None or step.status not in jobs.OPEN_STEP or step.doi_id is None:
            continue
        step.status = StepStatus.IN_PROGRESS.value
        doi = session.get(Doi, step.doi_id)
        if doi is None:
            continue
        settled = request_sync(session, settings, doi) is None
        jobs.on_doi_changed(session, doi, settled=settled)
        if step.status in jobs.OPEN_STEP:
            # The concept follows once the version DOI is confirmed (doi_outcome does that).
            return


def _version(session: Session, job: Job) -> Version:
    version = session.get(Version, job.version_id) if job.version_id is not None else None
    if version is None:
        raise LookupError(f"job {job.id} has no version")
    return version


def _verified_count(session: Session, job: Job) -> int:
    """How many of the job's blobs count as verified (`verified_for`, in SQL)."""
    held = LegalHold.state == HoldState.ON.value
    return int(
        session.scalar(
            select(func.count())
            .select_from(version_blobs)
            .join(Blob, Blob.id == version_blobs.c.blob_id)
            .outerjoin(LegalHold, LegalHold.blob_id == Blob.id)
            .where(
                version_blobs.c.version_id == job.version_id,
                Blob.verified_at.is_not(None),
                (Blob.verified_at >= job.created_at) | held,
            )
        )
        or 0
    )


def _hold_counts(session: Session, job: Job) -> dict[tuple[str, bool], int]:
    """(state, released by an operator?) -> holds of the job's version: one grouped query."""
    by_operator = LegalHold.release_reason.is_not(None)
    rows = session.execute(
        select(LegalHold.state, by_operator, func.count())
        .join(version_blobs, version_blobs.c.blob_id == LegalHold.blob_id)
        .where(version_blobs.c.version_id == job.version_id)
        .group_by(LegalHold.state, by_operator)
    ).all()
    return {(state, bool(operator)): int(n) for state, operator, n in rows}


def _failed_holds(session: Session, job: Job) -> list[Any]:
    return list(
        session.execute(
            select(LegalHold, Blob)
            .join(Blob, Blob.id == LegalHold.blob_id)
            .join(version_blobs, version_blobs.c.blob_id == Blob.id)
            .where(
                version_blobs.c.version_id == job.version_id,
                LegalHold.state == HoldState.FAILED.value,
            )
            .order_by(Blob.id)
            .limit(20)
        )
    )
