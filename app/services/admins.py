"""Admin page accounts: Argon2 password hashes, logins with a rate limit, roles.

Failed logins are audit-log rows (`admin.login_failed`), so the rate limit holds across
every web process and the audit log shows who tried. Passwords and their hashes are
never returned, logged or shown; the rows only ever leave here as `AdminUser` objects
whose hash the views never render.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.enums import AdminRole
from app.models import AdminUser, AuditLog
from app.services import audit
from app.services.errors import ConflictError, InvalidInputError, NotFoundError

EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}$")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # Argon2 takes any length; a megabyte "password" is an attack
# Failed logins allowed per window, for one account and for one client address.
LOGIN_WINDOW = timedelta(minutes=15)
FAILURES_PER_EMAIL = 5
FAILURES_PER_ADDRESS = 50
LOGIN_FAILED = "admin.login_failed"


@cache
def hasher() -> PasswordHasher:
    """argon2-cffi's hasher with its RFC 9106 defaults."""
    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    return hasher().hash("not anybody's password")


def normalise_email(text: str) -> str:
    """The stored form of an email address (trimmed, lowercase), or InvalidInputError."""
    email = text.strip().lower()
    if not EMAIL_PATTERN.match(email):
        raise InvalidInputError(f"{text!r} is not an email address")
    return email


def check_password(password: str) -> str:
    """The password, when long enough to keep; InvalidInputError otherwise."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInputError(f"a password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return password


def create(
    session: Session, email: str, password: str, role: AdminRole, *, actor: str
) -> AdminUser:
    """A new account; ConflictError when the email already has one."""
    email = normalise_email(email)
    if session.scalars(select(AdminUser.id).where(AdminUser.email == email)).first():
        raise ConflictError(f"{email} already has an account (use --update to change it)")
    user = AdminUser(
        email=email, password_hash=hasher().hash(check_password(password)), role=role.value
    )
    session.add(user)
    session.flush()
    audit.record(session, actor, "admin_user.create", f"admin:{email}", None, role=role.value)
    return user


def update_account(
    session: Session, email: str, *, password: str | None, role: AdminRole | None, actor: str
) -> AdminUser:
    """Set a new password and/or role, re-enable the account, and end its sessions."""
    user = find(session, email)
    if user is None:
        raise NotFoundError(f"{normalise_email(email)} has no account")
    if password is not None:
        user.password_hash = hasher().hash(check_password(password))
    if role is not None:
        _keep_an_admin(session, user, role)
        user.role = role.value
    user.disabled_at = None
    user.session_version += 1
    session.flush()
    changed = [name for name, value in (("password", password), ("role", role)) if value]
    audit.record(
        session,
        actor,
        "admin_user.update",
        f"admin:{user.email}",
        None,
        changed=changed,
        role=user.role,
    )
    return user


def set_role(
    session: Session, user_id: int, role: AdminRole, *, actor: str, reason: str
) -> AdminUser:
    """Change an account's role; its open sessions end."""
    user = _get(session, user_id)
    _keep_an_admin(session, user, role)
    before, user.role = user.role, role.value
    user.session_version += 1
    audit.record(
        session,
        actor,
        "admin_user.role",
        f"admin:{user.email}",
        reason,
        before=before,
        after=role.value,
    )
    return user


def set_disabled(
    session: Session, user_id: int, disabled: bool, *, actor: str, reason: str
) -> AdminUser:
    """Disable (sessions end, logins refused) or re-enable an account."""
    user = _get(session, user_id)
    if disabled:
        _keep_an_admin(session, user, AdminRole.VIEWER)
    user.disabled_at = utcnow() if disabled else None
    user.session_version += 1
    action = "admin_user.disable" if disabled else "admin_user.enable"
    audit.record(session, actor, action, f"admin:{user.email}", reason)
    return user


def find(session: Session, email: str) -> AdminUser | None:
    """The account of `email`, if any."""
    try:
        email = normalise_email(email)
    except InvalidInputError:
        return None
    return session.scalars(select(AdminUser).where(AdminUser.email == email)).first()


def load(session: Session, user_id: int, session_version: int) -> AdminUser | None:
    """The live account behind a session, or None when it ended (disabled, changed)."""
    return session.scalars(
        select(AdminUser).where(
            AdminUser.id == user_id,
            AdminUser.session_version == session_version,
            AdminUser.disabled_at.is_(None),
        )
    ).first()


def login_refused(
    session: Session, email: str, address: str, *, now: datetime | None = None
) -> bool:
    """True when this account or this address failed too often in the last LOGIN_WINDOW."""
    since = (now or utcnow()) - LOGIN_WINDOW
    recent = select(AuditLog).where(AuditLog.action == LOGIN_FAILED, AuditLog.at > since)
    by_email = recent.where(AuditLog.target == f"admin:{email.strip().lower()}")
    by_address = recent.where(AuditLog.data["address"].as_string() == address)
    return _count(session, by_email, FAILURES_PER_EMAIL) >= FAILURES_PER_EMAIL or (
        _count(session, by_address, FAILURES_PER_ADDRESS) >= FAILURES_PER_ADDRESS
    )


def authenticate(session: Session, email: str, password: str, *, address: str) -> AdminUser | None:
    """The account when the password is right and it is enabled; a failure is audited."""
    user = find(session, email)
    if user is None or user.disabled_at is not None:
        _verify(_dummy_hash(), password)  # the same work whether or not the account exists
        user = None
    elif not _verify(user.password_hash, password):
        user = None
    target = f"admin:{email.strip().lower()[:250]}"
    if user is None:
        audit.record(session, "anonymous", LOGIN_FAILED, target, None, address=address)
        return None
    if hasher().check_needs_rehash(user.password_hash):
        user.password_hash = hasher().hash(password)
    user.last_login_at = utcnow()
    audit.record(
        session, audit.admin_actor(user.email), "admin.login", target, None, address=address
    )
    return user


def password_matches(user: AdminUser, password: str) -> bool:
    """True when `password` is the account's password."""
    return _verify(user.password_hash, password)


def _verify(password_hash: str, password: str) -> bool:
    if len(password) > MAX_PASSWORD:
        return False
    try:
        return hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _get(session: Session, user_id: int) -> AdminUser:
    user = session.get(AdminUser, user_id, with_for_update=True)
    if user is None:
        raise NotFoundError(f"no admin account has id {user_id}")
    return user


def _keep_an_admin(session: Session, user: AdminUser, new_role: AdminRole) -> None:
    """Refuse to demote or disable the last enabled admin: nobody could manage accounts."""
    if user.role != AdminRole.ADMIN.value or new_role is AdminRole.ADMIN:
        return
    others = session.scalar(
        select(func.count())
        .select_from(AdminUser)
        .where(
            AdminUser.role == AdminRole.ADMIN.value,
            AdminUser.disabled_at.is_(None),
            AdminUser.id != user.id,
        )
    )
    if not others:
        raise ConflictError(f"{user.email} is the last enabled admin")


def _count(session: Session, query: Select[Any], limit: int) -> int:
    bounded = query.limit(limit).subquery()
    return int(session.scalar(select(func.count()).select_from(bounded)) or 0)
