"""The audit log: every action with who, when, what and why, filterable."""

from __future__ import annotations

from flask import render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from app.admin.blueprint import bp
from app.admin.context import reading
from app.admin.paging import keyset
from app.admin.security import requires
from app.admin.views.common import int_arg
from app.enums import AdminRole
from app.models import AuditLog

FILTERS = ("actor", "action", "target")


@bp.get("/audit")
@requires(AdminRole.VIEWER)
def audit() -> ResponseReturnValue:
    """Entries newest first; actor, action and target match exactly (an action may end in .*)."""
    given = {name: (request.args.get(name) or "").strip()[:300] for name in FILTERS}
    query = select(
        AuditLog.id,
        AuditLog.at,
        AuditLog.actor,
        AuditLog.action,
        AuditLog.target,
        AuditLog.reason,
        AuditLog.data,
    )
    if given["actor"]:
        query = query.where(AuditLog.actor == given["actor"])
    if given["action"].endswith(".*"):
        query = query.where(AuditLog.action.startswith(given["action"][:-1], autoescape=True))
    elif given["action"]:
        query = query.where(AuditLog.action == given["action"])
    if given["target"]:
        query = query.where(AuditLog.target == given["target"])
    with reading() as session:
        page = keyset(
            session,
            query,
            AuditLog.id,
            before=int_arg(request.args, "before"),
            after=int_arg(request.args, "after"),
        )
    return render_template(
        "admin/audit.html",
        title="Audit log",
        page=page,
        given=given,
        args={k: v for k, v in given.items() if v},
    )
