"""Publish jobs: their steps with counts and errors."""

from __future__ import annotations

from flask import abort, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from app.admin.blueprint import bp
from app.admin.context import reading
from app.admin.paging import keyset
from app.admin.security import requires
from app.admin.views.common import int_arg
from app.enums import AdminRole, JobStatus
from app.models import Doi, Job, Version


@bp.get("/jobs")
@requires(AdminRole.VIEWER)
def jobs() -> ResponseReturnValue:
    """Jobs newest first, by status or dataset."""
    status = request.args.get("status") or ""
    dataset = (request.args.get("dataset") or "").strip()[:64]
    query = select(Job.id, Job.kind, Job.dataset_id, Job.status, Job.created_at, Job.finished_at)
    if status in {s.value for s in JobStatus}:
        query = query.where(Job.status == status)
    if dataset:
        query = query.where(Job.dataset_id == dataset)
    with reading() as session:
        page = keyset(
            session,
            query,
            Job.id,
            before=int_arg(request.args, "before"),
            after=int_arg(request.args, "after"),
        )
    return render_template(
        "admin/jobs.html",
        title="Jobs",
        page=page,
        status=status,
        dataset=dataset,
        statuses=list(JobStatus),
        args={k: v for k, v in (("status", status), ("dataset", dataset)) if v},
    )


@bp.get("/jobs/<int:job_id>")
@requires(AdminRole.VIEWER)
def job(job_id: int) -> ResponseReturnValue:
    """One job and its steps."""
    with reading() as session:
        found = session.get(Job, job_id)
        if found is None:
            abort(404, f"job {job_id} does not exist")
        steps = list(found.steps)
        version = session.get(Version, found.version_id) if found.version_id is not None else None
        doi_ids = [step.doi_id for step in steps if step.doi_id is not None]
        names = {
            row.id: row.doi
            for row in session.execute(select(Doi.id, Doi.doi).where(Doi.id.in_(doi_ids)))
        }
    return render_template(
        "admin/job.html",
        title=f"Job {job_id}",
        job=found,
        steps=steps,
        version=version,
        doi_names=names,
    )
