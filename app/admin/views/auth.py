"""Log in and out: Argon2 passwords, a rate limit on failures, a fresh session each time."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, url_for
from flask import session as cookie
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user

from app.admin.blueprint import bp
from app.admin.context import writing
from app.admin.security import Principal, principal, requires
from app.enums import AdminRole
from app.services import admins, audit

log = logging.getLogger("doiflow.admin")


@bp.get("/login")
def login() -> ResponseReturnValue:
    """The login form (`email`, `password`)."""
    if current_user.is_authenticated:
        return redirect(url_for("admin.dashboard"))
    return render_template(
        "admin/login.html", title="Log in", next=_safe_next(request.args.get("next"))
    )


@bp.post("/login")
def login_submit() -> ResponseReturnValue:
    """Check the password; a wrong one, or too many, answers the form again."""
    email = (request.form.get("email") or "").strip()[:254]
    password = request.form.get("password") or ""
    address = request.remote_addr or "unknown"
    person: Principal | None = None
    with writing() as session:
        refused = admins.login_refused(session, email, address)
        if not refused:
            user = admins.authenticate(session, email, password, address=address)
            person = Principal.of(user) if user is not None else None
    if refused or person is None:
        log.warning(
            "admin login refused" if refused else "admin login failed",
            extra={
                "action": "admin_login_refused" if refused else "admin_login_failed",
                "address": address,
            },
        )
        message = (
            f"Too many failed logins: wait {admins.LOGIN_WINDOW.seconds // 60} minutes."
            if refused
            else "Wrong email or password."
        )
        page = render_template(
            "admin/login.html",
            title="Log in",
            error=message,
            email=email,
            next=_safe_next(request.form.get("next")),
        )
        return page, 429 if refused else 401
    cookie.clear()  # a new session for a new login: nothing carried over from before
    login_user(person)
    cookie.permanent = True
    log.info("admin logged in", extra={"action": "admin_login", "actor": person.actor})
    return redirect(_safe_next(request.form.get("next")) or url_for("admin.dashboard"), code=303)


@bp.post("/logout")
@requires(AdminRole.VIEWER)
def logout() -> ResponseReturnValue:
    """End the session."""
    actor = principal().actor
    with writing() as session:
        audit.record(session, actor, "admin.logout", actor)
    logout_user()
    cookie.clear()
    flash("Logged out.", "ok")
    return redirect(url_for("admin.login"), code=303)


def _safe_next(target: str | None) -> str | None:
    """`next` only when it is a path on this admin page: never another site."""
    if not target:
        return None
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not parts.path.startswith("/admin")
        or "\\" in target
        or "//" in target
    ):
        return None
    return target
