"""Retry or discard every intent matching the outbox filter: count, confirm, then act."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from app.admin.blueprint import bp
from app.admin.context import reading, settings, writing
from app.admin.queries import outbox as queries
from app.admin.security import principal, requires
from app.admin.views.common import int_arg, log, reason
from app.enums import AdminRole
from app.services import operator
from app.services.errors import InvalidInputError

ACTIONS = {"retry": "Retry", "discard": "Discard"}
PAST = {"retry": "Retried", "discard": "Discarded"}


@bp.get("/outbox/bulk")
@requires(AdminRole.OPERATOR)
def bulk_confirm() -> ResponseReturnValue:
    """How many intents the action would touch, and a form to confirm it."""
    action = _action(request.args.get("action"))
    given = queries.OutboxFilter.from_args(request.args)
    with reading() as session:
        floor = int_arg(request.args, "floor") or queries.search_floor(session, given)
        ids = queries.eligible_ids(session, given, action, floor=floor, up_to=None)
    return render_template(
        "admin/bulk_confirm.html",
        title=f"{ACTIONS[action]} all matching",
        action=action,
        verb=ACTIONS[action],
        given=given,
        floor=floor,
        count=min(len(ids), queries.BULK_LIMIT),
        more=len(ids) > queries.BULK_LIMIT,
        up_to=ids[0] if ids else None,
        limit=queries.BULK_LIMIT,
        eligible=", ".join(queries.ELIGIBLE[action]),
    )


@bp.post("/outbox/bulk")
@requires(AdminRole.OPERATOR)
def bulk_apply() -> ResponseReturnValue:
    """Act on the intents that matched when confirmed (none newer than `up_to`)."""
    action = _action(request.form.get("action"))
    given = queries.OutboxFilter.from_args(request.form)
    up_to = int_arg(request.form, "up_to")
    back = url_for("admin.outbox", **given.args())
    try:
        why = reason(required=True)
    except InvalidInputError as error:
        flash(error.message, "error")
        return redirect(url_for("admin.bulk_confirm", action=action, **given.args()), code=303)
    if up_to is None:
        flash("Nothing matched, so nothing was done.", "ok")
        return redirect(back, code=303)
    actor = principal().actor
    with writing() as session:
        floor = int_arg(request.form, "floor")
        ids = queries.eligible_ids(session, given, action, floor=floor, up_to=up_to)
        result = operator.bulk(
            settings(),
            session,
            action,
            ids[: queries.BULK_LIMIT],
            actor=actor,
            reason=why,
            target=f"outbox: {given.describe()}",
        )
    done = f"{PAST[action]} {len(result.changed)} intent(s)"
    skipped = f"; {result.skipped} skipped (they changed meanwhile)" if result.skipped else ""
    flash(done + skipped, "ok")
    log.info(
        "admin bulk action",
        extra={"action": f"admin_bulk_{action}", "actor": actor, "count": len(result.changed)},
    )
    return redirect(back, code=303)


def _action(value: str | None) -> str:
    if value not in ACTIONS:
        abort(400, "action must be retry or discard")
    return value
