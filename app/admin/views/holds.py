"""Legal holds: filter by state, key prefix or dataset; one hold's history; the release backdoor."""

from __future__ import annotations

from flask import abort, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from app.admin.blueprint import bp
from app.admin.context import reading, settings, writing
from app.admin.queries import holds as queries
from app.admin.security import principal, requires
from app.admin.views.common import act, int_arg, reason
from app.enums import AdminRole, HoldState, HoldTarget
from app.models import LegalHold
from app.services import hold_release
from app.services.errors import NotFoundError


@bp.get("/holds")
@requires(AdminRole.VIEWER)
def holds() -> ResponseReturnValue:
    """Holds newest first, by state, key prefix or the dataset whose versions reference them."""
    given = queries.HoldFilter.from_args(request.args)
    with reading() as session:
        page = queries.page(
            session,
            given,
            before=int_arg(request.args, "before"),
            after=int_arg(request.args, "after"),
        )
    return render_template(
        "admin/holds.html",
        title="Legal holds",
        page=page,
        given=given,
        states=list(HoldState),
        args=given.args(),
    )


@bp.get("/holds/<int:hold_id>")
@requires(AdminRole.VIEWER)
def hold(hold_id: int) -> ResponseReturnValue:
    """One hold: its blob version, where it stands, who references it, its history."""
    with reading() as session:
        query = select(LegalHold).where(LegalHold.id == hold_id)
        query = query.options(joinedload(LegalHold.blob), selectinload(LegalHold.history))
        found = session.scalars(query).first()
        if found is None:
            abort(404, f"legal hold {hold_id} does not exist")
        versions = list(session.execute(queries.referencing_versions(found.blob_id)))
    released_by_operator = found.release_reason is not None and found.target == HoldTarget.OFF.value
    return render_template(
        "admin/hold.html",
        title=f"Legal hold {hold_id}",
        hold=found,
        blob=found.blob,
        versions=versions,
        releasable=not released_by_operator,
    )


@bp.post("/holds/<int:hold_id>/release")
@requires(AdminRole.ADMIN)
def release_hold(hold_id: int) -> ResponseReturnValue:
    """The backdoor: turn the hold OFF (queued, audit-logged); a reason is required."""

    def run() -> str:
        why = reason(required=True)
        with writing() as session:
            found = session.get(LegalHold, hold_id)
            if found is None:
                raise NotFoundError(f"legal hold {hold_id} does not exist")
            key, version_id = found.blob.key, found.blob.version_id
            hold_release.release(
                settings(), session, key, version_id, reason=why, actor=principal().actor
            )
        return f"release of {key}@{version_id} queued: S3 turns the hold OFF shortly"

    return act(run, url_for("admin.hold", hold_id=hold_id))
