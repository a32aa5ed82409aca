"""DOIs: search by DOI or dataset, state, target; one DOI's history and intents; retry."""

from __future__ import annotations

from flask import abort, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from app.admin.blueprint import bp
from app.admin.context import reading, settings, writing
from app.admin.paging import keyset
from app.admin.security import principal, requires
from app.admin.views.common import act, int_arg, reason
from app.db import utcnow
from app.enums import AdminRole, DoiState, DoiTarget
from app.models import Doi, Intent
from app.services import operator, stash
from app.services.doi_policy import sync_key
from app.services.identifiers import normalise_doi

INTENTS_SHOWN = 50


@bp.get("/dois")
@requires(AdminRole.VIEWER)
def dois() -> ResponseReturnValue:
    """DOIs newest first; `q` is a DOI in any written form or a dataset id."""
    q = (request.args.get("q") or "").strip()[:300]
    state = request.args.get("state") or ""
    target = request.args.get("target") or ""
    query = select(
        Doi.id,
        Doi.doi,
        Doi.kind,
        Doi.dataset_id,
        Doi.state,
        Doi.target,
        Doi.attempts,
        Doi.last_status,
        Doi.last_error,
        Doi.updated_at,
    )
    if q:
        canonical = normalise_doi(q)
        query = query.where(Doi.doi == canonical) if canonical else query.where(Doi.dataset_id == q)
    if state in {s.value for s in DoiState}:
        query = query.where(Doi.state == state)
    if target in {t.value for t in DoiTarget}:
        query = query.where(Doi.target == target)
    with reading() as session:
        page = keyset(
            session,
            query,
            Doi.id,
            before=int_arg(request.args, "before"),
            after=int_arg(request.args, "after"),
        )
    return render_template(
        "admin/dois.html",
        title="DOIs",
        page=page,
        q=q,
        state=state,
        target=target,
        states=list(DoiState),
        targets=list(DoiTarget),
        args={k: v for k, v in (("q", q), ("state", state), ("target", target)) if v},
    )


@bp.get("/dois/<path:doi>")
@requires(AdminRole.VIEWER)
def doi(doi: str) -> ResponseReturnValue:
    """One DOI: where it stands, its history, its stashes, and the intents that drove it."""
    canonical = normalise_doi(doi)
    with reading() as session:
        query = select(Doi).options(joinedload(Doi.version), selectinload(Doi.history))
        query = query.where(Doi.doi == canonical)
        found = session.scalars(query).first() if canonical else None
        if found is None:
            abort(404, f"{doi} is not a DOI doiflow manages")
        intents = list(
            session.execute(
                select(
                    Intent.id, Intent.status, Intent.attempts, Intent.created_at, Intent.last_error
                )
                .where(Intent.key == sync_key(found))
                .order_by(Intent.id.desc())
                .limit(INTENTS_SHOWN)
            )
        )
        now = utcnow()
        stashes = [stash.describe(s, now=now) for s in stash.of_doi(session, found.id)]
    return render_template(
        "admin/doi.html", title=found.doi, doi=found, intents=intents, stashes=stashes
    )


@bp.post("/dois/<path:doi>/retry")
@requires(AdminRole.OPERATOR)
def doi_retry(doi: str) -> ResponseReturnValue:
    """Re-drive a failed DOI."""

    def run() -> str:
        why = reason(required=False, default="retried from the admin page")
        with writing() as session:
            return operator.retry_doi(settings(), session, doi, actor=principal().actor, reason=why)

    return act(run, url_for("admin.doi", doi=normalise_doi(doi) or doi))
