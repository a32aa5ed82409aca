"""The `verify_blobs` topic: each blob version published exists with its recorded size and sha256.

One intent per batch of HOLD_BATCH_SIZE blobs of one job: a HEAD per blob (S3's stored
SHA-256 when it keeps one), and for a blob without one its bytes hashed as they stream
(`StorageClient.sha256_of`, a chunk at a time). A mismatch is a finding, not an error:
it is recorded on the step and the job fails once every blob has an answer, naming
them all. An S3 error stops the batch; what was verified before it is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.clients.errors import MissingObjectError, PermanentError, RemoteError
from app.clients.remotes import Remotes
from app.clients.storage import StorageClient
from app.config import Settings
from app.db import utcnow
from app.enums import StepStatus
from app.models import Blob, Intent
from app.retry import RetryDecision
from app.runner import Failure
from app.services import hold_progress, jobs
from app.services.hold_slots import slot
from app.topics import VERIFY_BLOBS


@dataclass(frozen=True)
class Item:
    """One blob version as recorded."""

    blob_id: int
    key: str
    version_id: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Plan:
    job_id: int
    items: tuple[Item, ...]


@dataclass
class Outcome:
    """Per blob: None when S3 matched the record, else the problem; an S3 error stops the batch."""

    results: dict[int, str | None] = field(default_factory=dict)
    error: RemoteError | None = None


def check(storage: StorageClient, item: Item) -> str | None:
    """None when S3 holds the version as recorded, else what differs (for people)."""
    try:
        info = storage.head(item.key, item.version_id, hold=False)  # the hold comes later
    except MissingObjectError:
        return "no such object version in S3 (missing, deleted, or a delete marker)"
    if info.size != item.size:
        return f"size is {info.size} bytes in S3, {item.size} recorded"
    sha256 = info.sha256 or storage.sha256_of(item.key, item.version_id)
    if sha256 != item.sha256:
        return f"sha256 is {sha256} in S3, {item.sha256} recorded"
    return None


class VerifyBlobsHandler:
    """Runner handler for `verify_blobs`."""

    topic = VERIFY_BLOBS

    def prepare(self, session: Session, settings: Settings, intent: Intent) -> Plan | None:
        """The batch's blobs that still need an answer for this job."""
        # Read, not locked: every batch's prepare queued behind every record's lock. A blob
        # another batch verified meanwhile is checked twice at worst; record locks the job.
        job = jobs.read_job(session, int(intent.payload["job_id"]))
        step = jobs.step_named(job, jobs.VERIFY) if job is not None else None
        if job is None or step is None or step.status not in jobs.OPEN_STEP:
            return None
        reported = {(p["key"], p["version_id"]) for p in step.problems}
        blobs = session.scalars(
            select(Blob).where(Blob.id.in_(intent.payload["ids"])).order_by(Blob.id)
        )
        items = tuple(
            Item(b.id, b.key, b.version_id, b.sha256, b.size)
            for b in blobs
            if not hold_progress.verified_for(job, b) and (b.key, b.version_id) not in reported
        )
        return Plan(job.id, items) if items else None

    def execute(self, remotes: Remotes, plan: Plan) -> Outcome:
        """HEAD (and, without a stored checksum, a streamed hash) per blob, in one S3 slot."""
        outcome = Outcome()
        storage = remotes.storage
        if storage is None:
            outcome.error = PermanentError("S3_BUCKET is not set in this worker")
            return outcome
        with slot(remotes):
            for item in plan.items:
                try:
                    outcome.results[item.blob_id] = check(storage, item)
                except RemoteError as error:
                    outcome.error = error
                    break
        return outcome

    def record(
        self,
        session: Session,
        settings: Settings,
        intent: Intent,
        plan: Plan | None,
        outcome: Outcome | Failure,
        decision: RetryDecision | None,
    ) -> RetryDecision | None:
        """Keep what was verified, note what differs, close the step when all have answered."""
        job = jobs.lock_job(session, plan.job_id if plan else int(intent.payload["job_id"]))
        step = jobs.step_named(job, jobs.VERIFY) if job is not None else None
        if job is None or step is None or step.status not in jobs.OPEN_STEP:
            return None
        results = outcome.results if isinstance(outcome, Outcome) else {}
        _apply_results(session, step, results)
        if decision is not None and outcome.error is not None:
            text = f"S3 failed while verifying: {outcome.error}"
            if decision.gives_up:
                jobs.close_step(job, step, StepStatus.FAILED, f"{decision.reason}: {text}"[:4000])
                return None
            step.error = f"retrying ({decision.reason}): {text}"[:4000]
        hold_progress.on_verified(session, settings, job)
        return None

    def context(self, plan: Plan) -> dict[str, Any]:
        """Every log line of the delivery names the job and its batch size."""
        return {"job_id": plan.job_id, "blobs": len(plan.items)}


def _apply_results(session: Session, step: Any, results: dict[int, str | None]) -> None:
    if not results:
        return
    now = utcnow()
    problems = list(step.problems)
    for blob in session.scalars(select(Blob).where(Blob.id.in_(results)).with_for_update()):
        problem = results[blob.id]
        if problem is None:
            blob.verified_at = now
        else:
            problems.append({"key": blob.key, "version_id": blob.version_id, "problem": problem})
    step.problems = problems  # a new list: JSON columns notice reassignment only
    step.error = None


HANDLER = VerifyBlobsHandler()
