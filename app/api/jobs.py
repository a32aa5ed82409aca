"""Job endpoints: a publish run and its steps, and re-driving a failed one."""

from __future__ import annotations

from flask.typing import ResponseReturnValue

from app.api import serialize
from app.api.auth import require
from app.api.blueprint import bp
from app.api.context import current_settings, transaction
from app.api.validation import read_body
from app.enums import Scope
from app.models import Job
from app.services import job_redrive
from app.services.errors import NotFoundError

MAX_ID = 2**63 - 1  # a Postgres bigint


@bp.get("/jobs/<int:job_id>")
@require(Scope.READ)
def get_job(job_id: int) -> ResponseReturnValue:
    """A job with its steps."""
    with transaction() as session:
        job = session.get(Job, job_id) if job_id <= MAX_ID else None
        if job is None:
            raise NotFoundError(f"job {job_id} does not exist")
        return serialize.job_json(session, job)


@bp.post("/jobs/<int:job_id>/retry")
@require(Scope.OPERATOR)
def retry_job(job_id: int) -> ResponseReturnValue:
    """Re-drive a failed job, optionally with corrected blob records `{"blobs": [...]}`."""
    body = read_body("RetryJob", may_be_empty=True)
    if job_id > MAX_ID:
        raise NotFoundError(f"job {job_id} does not exist")
    with transaction() as session:
        job = job_redrive.redrive(current_settings(), session, job_id, body.get("blobs", []))
        answer = serialize.job_json(session, job)
    return answer, 202
