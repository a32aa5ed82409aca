"""The outbox browser: filter, page, open one intent's timeline, retry or discard it."""

from __future__ import annotations

from flask import abort, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from app.admin.blueprint import bp
from app.admin.context import reading, settings, writing
from app.admin.queries import outbox as queries
from app.admin.queries.timeline import timeline
from app.admin.redact import redact
from app.admin.security import principal, requires
from app.admin.views.common import act, int_arg, reason
from app.db import is_postgres
from app.enums import AdminRole, IntentStatus
from app.models import Doi, Intent
from app.outbox import DISCARDABLE
from app.services import operator
from app.services.errors import InvalidInputError
from app.topics import REGISTRY, SYNC_DOI


@bp.get("/outbox")
@requires(AdminRole.VIEWER)
def outbox() -> ResponseReturnValue:
    """Intents newest first, filtered; keyset pages (`before`, `after`)."""
    error = None
    try:
        given = queries.OutboxFilter.from_args(request.args)
    except InvalidInputError as problem:
        given, error = queries.OutboxFilter(), problem.message
    rows, page, floor = [], None, None
    with reading() as session:
        postgres = is_postgres(session)
        try:
            floor = int_arg(request.args, "floor") or queries.search_floor(session, given)
            page = queries.list_page(
                session,
                given,
                floor=floor,
                before=int_arg(request.args, "before"),
                after=int_arg(request.args, "after"),
            )
            rows = page.rows
        except InvalidInputError as problem:
            error = problem.message
    return render_template(
        "admin/outbox.html",
        title="Outbox",
        given=given,
        rows=rows,
        page=page,
        floor=floor,
        error=error,
        postgres=postgres,
        statuses=list(IntentStatus),
        topics=sorted(REGISTRY),
        window=queries.SEARCH_WINDOW,
    )


@bp.get("/outbox/<int:intent_id>")
@requires(AdminRole.VIEWER)
def intent(intent_id: int) -> ResponseReturnValue:
    """One intent: payload (redacted), attempts, lease, last error, and its timeline."""
    with reading() as session:
        found = session.get(Intent, intent_id)
        if found is None:
            abort(404, f"intent {intent_id} does not exist (pruned, or never written)")
        entries = timeline(session, found)
        doi = _doi_of(session, found)
    return render_template(
        "admin/intent.html",
        title=f"Intent {intent_id}",
        intent=found,
        payload=redact(found.payload),
        entries=entries,
        doi=doi,
        can_retry=found.status == IntentStatus.FAILED.value,
        can_discard=found.status in DISCARDABLE,
    )


@bp.post("/outbox/<int:intent_id>/retry")
@requires(AdminRole.OPERATOR)
def intent_retry(intent_id: int) -> ResponseReturnValue:
    """Retry a failed intent (a failed DOI is re-driven)."""

    def run() -> str:
        why = reason(required=False, default="retried from the admin page")
        with writing() as session:
            return operator.retry_intent(
                settings(), session, intent_id, actor=principal().actor, reason=why
            )

    return act(run, url_for("admin.intent", intent_id=intent_id))


@bp.post("/outbox/<int:intent_id>/discard")
@requires(AdminRole.OPERATOR)
def intent_discard(intent_id: int) -> ResponseReturnValue:
    """Discard a pending or failed intent; a reason is required."""

    def run() -> str:
        why = reason(required=True)
        with writing() as session:
            return operator.discard_intent(session, intent_id, actor=principal().actor, reason=why)

    return act(run, url_for("admin.intent", intent_id=intent_id))


def _doi_of(session: Session, intent: Intent) -> Doi | None:
    doi_id = intent.payload.get("doi_id")
    if intent.topic != SYNC_DOI.name or not isinstance(doi_id, int):
        return None
    return session.get(Doi, doi_id)
