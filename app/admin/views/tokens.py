"""API tokens: who has one, when it was last used; create (shown once) and revoke."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from app.admin.blueprint import bp
from app.admin.context import reading, writing
from app.admin.security import principal, requires
from app.admin.views.common import act, reason
from app.enums import AdminRole, Scope
from app.models import ApiToken
from app.services import operator, tokens
from app.services.errors import InvalidInputError

TOKENS_SHOWN = 500


@bp.get("/tokens", endpoint="tokens")
@requires(AdminRole.VIEWER)
def tokens_page() -> ResponseReturnValue:
    """Every token, newest first (never its value: only a digest is stored)."""
    with reading() as session:
        rows = list(
            session.execute(
                select(
                    ApiToken.id,
                    ApiToken.name,
                    ApiToken.scopes,
                    ApiToken.created_at,
                    ApiToken.last_used_at,
                    ApiToken.revoked_at,
                )
                .order_by(ApiToken.id.desc())
                .limit(TOKENS_SHOWN)
            )
        )
    return render_template("admin/tokens.html", title="API tokens", rows=rows, scopes=list(Scope))


@bp.post("/tokens")
@requires(AdminRole.ADMIN)
def token_create() -> ResponseReturnValue:
    """Create a token and show it this once."""
    name = (request.form.get("name") or "").strip()[:128]
    try:
        if not name:
            raise InvalidInputError("a token needs a name (who uses it)")
        scopes = tokens.parse_scopes(",".join(request.form.getlist("scopes")))
        with writing() as session:
            token, plain = operator.create_token(session, name, scopes, actor=principal().actor)
    except InvalidInputError as error:
        flash(error.message, "error")
        return redirect(url_for("admin.tokens"), code=303)
    return render_template(
        "admin/token_created.html", title="Token created", token=token, plain=plain
    )


@bp.post("/tokens/<int:token_id>/revoke")
@requires(AdminRole.ADMIN)
def token_revoke(token_id: int) -> ResponseReturnValue:
    """Revoke a token; a reason is required."""

    def run() -> str:
        why = reason(required=True)
        with writing() as session:
            token = operator.revoke_token(session, token_id, actor=principal().actor, reason=why)
        return f"token {token.name!r} revoked"

    return act(run, url_for("admin.tokens"))
