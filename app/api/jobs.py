"""Job endpoint: a publish run and its steps."""

from __future__ import annotations

from flask.typing import ResponseReturnValue

from app.api import serialize
from app.api.auth import require
from app.api.blueprint import bp
from app.api.context import transaction
from app.enums import Scope
from app.models import Job
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
