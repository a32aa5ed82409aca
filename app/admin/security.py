"""Logins, roles, CSRF and cookies for the admin page.

Sessions are Flask's cookies signed with SECRET_KEY (HttpOnly, SameSite=Lax, Secure
behind HTTPS), carrying `"{user id}:{session version}"`: bumping an account's version
(new password, new role, disabled) ends its sessions. CSRF tokens (Flask-WTF) are
checked on every admin POST, before any role check, and only there: the JSON API
authenticates with bearer tokens and stays as it was.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar

from flask import Flask, abort, request
from flask.sessions import SecureCookieSessionInterface
from flask_login import AnonymousUserMixin, LoginManager, current_user
from flask_wtf.csrf import CSRFProtect

from app.api.context import current_runtime
from app.config import ConfigError, Settings
from app.enums import AdminRole
from app.models import AdminUser
from app.services import admins, audit

P = ParamSpec("P")
R = TypeVar("R")

# Placeholders seen in examples and old defaults: each signs sessions anyone can forge.
WEAK_SECRET_KEYS = frozenset(
    {
        "",
        "change-me",
        "changeme",
        "change_me",
        "secret",
        "secret-key",
        "secret_key",
        "your-secret-key",
        "dev",
        "development",
        "dev-only-secret",
        "default",
        "test",
        "password",
    }
)
SESSION_LIFETIME = timedelta(hours=12)
CSRF = CSRFProtect()


@dataclass(frozen=True)
class Principal:
    """The person behind a session: never the ORM row, so no password hash travels."""

    id: int
    email: str
    role: AdminRole
    session_version: int
    is_authenticated = True
    is_active = True
    is_anonymous = False

    @classmethod
    def of(cls, user: AdminUser) -> Principal:
        return cls(user.id, user.email, AdminRole(user.role), user.session_version)

    def get_id(self) -> str:
        """What Flask-Login keeps in the session."""
        return f"{self.id}:{self.session_version}"

    @property
    def actor(self) -> str:
        """How the audit log names this person."""
        return audit.admin_actor(self.email)

    def can(self, role: AdminRole | str) -> bool:
        """True when this person's role includes `role`."""
        return self.role.includes(AdminRole(role))


class Anonymous(AnonymousUserMixin):
    """Nobody logged in: may do nothing."""

    email = None
    role = None

    def can(self, role: AdminRole | str) -> bool:
        return False


class ForwardedSecureSessionInterface(SecureCookieSessionInterface):
    """Mark the session cookie Secure whenever the request came over HTTPS.

    Behind Heroku's router TLS ends there, which says so in X-Forwarded-Proto. A client
    forging that header over plain HTTP only makes its own cookie unusable to itself.
    """

    def get_cookie_secure(self, app: Flask) -> bool:
        forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        return (
            bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure or forwarded == "https"
        )


def check_secret_key(settings: Settings) -> None:
    """Refuse to start the admin page with an empty or placeholder SECRET_KEY."""
    if settings.secret_key.strip().lower() in WEAK_SECRET_KEYS:
        raise ConfigError(
            "SECRET_KEY must be a long random value while the admin page is enabled "
            "(it signs admin sessions and CSRF tokens): for example the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`, "
            "or set ADMIN_ENABLED=false"
        )


def install(app: Flask) -> None:
    """Cookies, Flask-Login and CSRF on `app` (the CSRF check itself runs in the blueprint)."""
    app.config.update(
        SESSION_COOKIE_NAME="doiflow_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        # Checked by the admin blueprint only, so API requests with bearer tokens never are.
        WTF_CSRF_CHECK_DEFAULT=False,
        # A token lives as long as its session (SESSION_LIFETIME), not an hour of a form.
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.session_interface = ForwardedSecureSessionInterface()
    manager = LoginManager(app)
    manager.login_view = "admin.login"
    manager.login_message = "Please log in."
    manager.anonymous_user = Anonymous
    manager.user_loader(_load_principal)
    CSRF.init_app(app)


def _load_principal(user_id: str) -> Principal | None:
    """The live account named in the session, or None (the session has ended)."""
    try:
        ident, version = (int(part) for part in user_id.split(":"))
    except ValueError:
        return None
    with current_runtime().sessions() as session:
        user = admins.load(session, ident, version)
        return Principal.of(user) if user is not None else None


def principal() -> Principal:
    """The logged-in person (views decorated with `requires` only)."""
    person: Principal = current_user._get_current_object()
    return person


def requires(role: AdminRole) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a view: log in first (redirect), then hold `role` or more (403)."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            if not current_user.is_authenticated:
                answer: Any = _login_manager().unauthorized()
                return answer
            if not current_user.can(role):
                abort(403, f"this needs the {role.value} role; you are {current_user.role}")
            return view(*args, **kwargs)

        guarded.required_role = role  # type: ignore[attr-defined]
        return guarded

    return decorate


def _login_manager() -> LoginManager:
    from flask import current_app

    manager: LoginManager = current_app.login_manager  # type: ignore[attr-defined]
    return manager
