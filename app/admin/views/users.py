"""Admin accounts (admins only): create with a one-time password, change role, disable."""

from __future__ import annotations

import secrets

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from app.admin.blueprint import bp
from app.admin.context import reading, writing
from app.admin.security import principal, requires
from app.admin.views.common import act, reason
from app.enums import AdminRole
from app.models import AdminUser
from app.services import admins
from app.services.errors import InvalidInputError, ServiceError


@bp.get("/users")
@requires(AdminRole.ADMIN)
def users() -> ResponseReturnValue:
    """Every account (never its password hash)."""
    with reading() as session:
        rows = list(
            session.execute(
                select(
                    AdminUser.id,
                    AdminUser.email,
                    AdminUser.role,
                    AdminUser.created_at,
                    AdminUser.last_login_at,
                    AdminUser.disabled_at,
                ).order_by(AdminUser.email)
            )
        )
    return render_template("admin/users.html", title="Users", rows=rows, roles=list(AdminRole))


@bp.post("/users")
@requires(AdminRole.ADMIN)
def user_create() -> ResponseReturnValue:
    """A new account with a random password, shown once."""
    password = secrets.token_urlsafe(18)
    try:
        role = _role(request.form.get("role"))
        with writing() as session:
            user = admins.create(
                session, request.form.get("email") or "", password, role, actor=principal().actor
            )
            email = user.email
    except ServiceError as error:
        flash(error.message, "error")
        return redirect(url_for("admin.users"), code=303)
    return render_template(
        "admin/user_created.html",
        title="Account created",
        email=email,
        role=role,
        password=password,
    )


@bp.post("/users/<int:user_id>/role")
@requires(AdminRole.ADMIN)
def user_role(user_id: int) -> ResponseReturnValue:
    """Change an account's role (its sessions end)."""

    def run() -> str:
        role = _role(request.form.get("role"))
        why = reason(required=True)
        with writing() as session:
            user = admins.set_role(session, user_id, role, actor=principal().actor, reason=why)
        return f"{user.email} is now {role.value}"

    return act(run, url_for("admin.users"))


@bp.post("/users/<int:user_id>/disable")
@requires(AdminRole.ADMIN)
def user_disable(user_id: int) -> ResponseReturnValue:
    """Disable or re-enable an account (`disable` = 1 or 0)."""

    def run() -> str:
        disabled = request.form.get("disable") == "1"
        why = reason(required=True)
        with writing() as session:
            user = admins.set_disabled(
                session, user_id, disabled, actor=principal().actor, reason=why
            )
        return f"{user.email} {'disabled' if disabled else 'enabled'}"

    return act(run, url_for("admin.users"))


def _role(value: str | None) -> AdminRole:
    try:
        return AdminRole(value or "")
    except ValueError:
        raise InvalidInputError(f"role must be one of {', '.join(AdminRole)}") from None
