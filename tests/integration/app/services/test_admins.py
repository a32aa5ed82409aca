"""Admin accounts: hashes, authentication, the login limit, the last admin."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.db import utcnow
from app.enums import AdminRole
from app.runtime import Runtime
from app.services import admins
from app.services.errors import ConflictError, InvalidInputError

PASSWORD = "a long enough password"


def test_passwords_are_stored_as_argon2_hashes(runtime: Runtime) -> None:
    with runtime.sessions.begin() as session:
        user = admins.create(session, " Ops@Example.ORG ", PASSWORD, AdminRole.ADMIN, actor="cli:t")
    assert user.email == "ops@example.org"
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_bad_input_is_refused(runtime: Runtime) -> None:
    with runtime.sessions.begin() as session:
        with pytest.raises(InvalidInputError, match="12 to 1024"):
            admins.create(session, "a@example.org", "short", AdminRole.VIEWER, actor="cli:t")
        with pytest.raises(InvalidInputError, match="not an email"):
            admins.create(session, "nobody", PASSWORD, AdminRole.VIEWER, actor="cli:t")
        admins.create(session, "a@example.org", PASSWORD, AdminRole.VIEWER, actor="cli:t")
        with pytest.raises(ConflictError, match="already has an account"):
            admins.create(session, "A@example.org", PASSWORD, AdminRole.VIEWER, actor="cli:t")


def test_authentication_and_the_failure_limit(runtime: Runtime) -> None:
    with runtime.sessions.begin() as session:
        admins.create(session, "a@example.org", PASSWORD, AdminRole.VIEWER, actor="cli:t")
    with runtime.sessions.begin() as session:
        assert admins.authenticate(session, "A@example.org", PASSWORD, address="1.2.3.4")
        for _ in range(admins.FAILURES_PER_EMAIL):
            assert admins.authenticate(session, "a@example.org", "wrong", address="1.2.3.4") is None
        assert admins.login_refused(session, "a@example.org", "5.6.7.8")
        assert not admins.login_refused(session, "b@example.org", "5.6.7.8")
        later = utcnow() + admins.LOGIN_WINDOW + timedelta(seconds=1)
        assert not admins.login_refused(session, "a@example.org", "5.6.7.8", now=later)


def test_an_update_changes_the_password_and_ends_sessions(runtime: Runtime) -> None:
    with runtime.sessions.begin() as session:
        user = admins.create(session, "a@example.org", PASSWORD, AdminRole.VIEWER, actor="cli:t")
        version = user.session_version
        admins.update_account(
            session, "a@example.org", password="another long password", role=None, actor="cli:t"
        )
        assert admins.load(session, user.id, version) is None
        assert admins.password_matches(user, "another long password")


def test_the_last_admin_stays(runtime: Runtime) -> None:
    with runtime.sessions.begin() as session:
        first = admins.create(session, "a@example.org", PASSWORD, AdminRole.ADMIN, actor="cli:t")
        with pytest.raises(ConflictError, match="last enabled admin"):
            admins.set_role(session, first.id, AdminRole.OPERATOR, actor="cli:t", reason="x")
        second = admins.create(session, "b@example.org", PASSWORD, AdminRole.ADMIN, actor="cli:t")
        admins.set_disabled(session, first.id, True, actor="cli:t", reason="left")
        with pytest.raises(ConflictError, match="last enabled admin"):
            admins.set_disabled(session, second.id, True, actor="cli:t", reason="x")
