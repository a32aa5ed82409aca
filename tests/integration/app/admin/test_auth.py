"""Logging in and out: sessions, cookies, the rate limit, and sessions that end."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from app import create_app
from app.config import ConfigError, load_settings
from app.enums import AdminRole
from app.runtime import Runtime
from app.services import admins
from tests.fixtures.runtime import doiflow_environment
from tests.support.admin import PASSWORD, AdminClient, audit_count, create_account, csrf_in


def _login(app: Flask, email: str, password: str, **extra: str):
    client = app.test_client()
    token = csrf_in(client.get("/admin/login").get_data(as_text=True))
    answer = client.post(
        "/admin/login", data={"email": email, "password": password, "csrf_token": token, **extra}
    )
    return client, answer


def test_admin_without_a_session_redirects_to_the_login(app: Flask) -> None:
    answer = app.test_client().get("/admin/outbox?status=failed")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/admin/login?next=")


def test_a_right_password_logs_in_with_a_hardened_cookie(app: Flask, runtime: Runtime) -> None:
    email = create_account(runtime, "viewer")
    client, answer = _login(app, email, PASSWORD)
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/admin/"
    cookie = answer.headers["Set-Cookie"]
    assert "doiflow_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP here
    assert email in client.get("/admin/").get_data(as_text=True)
    assert audit_count(runtime, "admin.login") == 1


def test_the_cookie_is_secure_behind_https(app: Flask, runtime: Runtime) -> None:
    email = create_account(runtime, "viewer")
    client = app.test_client()
    https = {"X-Forwarded-Proto": "https"}
    token = csrf_in(client.get("/admin/login", headers=https).get_data(as_text=True))
    answer = client.post(
        "/admin/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token},
        headers=https,
    )
    assert answer.status_code == 303
    assert "Secure" in answer.headers["Set-Cookie"]


def test_a_wrong_password_is_refused_and_audited(app: Flask, runtime: Runtime) -> None:
    email = create_account(runtime, "admin")
    client, answer = _login(app, email, "not the password at all")
    assert answer.status_code == 401
    assert "Wrong email or password" in answer.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302
    assert audit_count(runtime, "admin.login_failed") == 1


def test_an_unknown_email_answers_like_a_wrong_password(app: Flask, runtime: Runtime) -> None:
    _, answer = _login(app, "nobody@example.org", PASSWORD)
    assert answer.status_code == 401
    assert "Wrong email or password" in answer.get_data(as_text=True)


def test_too_many_failures_lock_the_account_for_a_while(app: Flask, runtime: Runtime) -> None:
    email = create_account(runtime, "admin")
    for _ in range(admins.FAILURES_PER_EMAIL):
        assert _login(app, email, "wrong password here")[1].status_code == 401
    client, answer = _login(app, email, PASSWORD)
    assert answer.status_code == 429
    assert "Too many failed logins" in answer.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302
    # Refused attempts are not recorded: an attacker cannot grow the log without bound.
    assert audit_count(runtime, "admin.login_failed") == admins.FAILURES_PER_EMAIL


def test_next_must_stay_on_the_admin_page(app: Flask, runtime: Runtime) -> None:
    email = create_account(runtime, "viewer")
    _, inside = _login(app, email, PASSWORD, next="/admin/outbox?status=failed")
    assert inside.headers["Location"] == "/admin/outbox?status=failed"
    for elsewhere in ("https://evil.example/admin", "//evil.example/admin", "/api/datasets"):
        _, answer = _login(app, email, PASSWORD, next=elsewhere)
        assert answer.headers["Location"] == "/admin/", elsewhere


def test_logout_ends_the_session(as_role: Callable[[str], AdminClient], runtime: Runtime) -> None:
    viewer = as_role("viewer")
    answer = viewer.post("/admin/logout")
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/admin/login"
    assert viewer.get("/admin/").status_code == 302
    assert audit_count(runtime, "admin.logout") == 1


def test_a_role_change_ends_the_open_sessions(
    as_role: Callable[[str], AdminClient], runtime: Runtime
) -> None:
    operator = as_role("operator")
    assert operator.get("/admin/").status_code == 200
    with runtime.sessions.begin() as session:
        user = admins.find(session, operator.email)
        assert user is not None
        admins.set_role(session, user.id, AdminRole.VIEWER, actor="cli:test", reason="rotation")
    assert operator.get("/admin/").status_code == 302


def test_a_disabled_account_can_neither_stay_nor_log_in(
    app: Flask, as_role: Callable[[str], AdminClient], runtime: Runtime
) -> None:
    viewer = as_role("viewer")
    with runtime.sessions.begin() as session:
        user = admins.find(session, viewer.email)
        assert user is not None
        admins.set_disabled(session, user.id, True, actor="cli:test", reason="left")
    assert viewer.get("/admin/").status_code == 302
    assert _login(app, viewer.email, PASSWORD)[1].status_code == 401


@pytest.mark.parametrize("secret", ["", "change-me", "dev-only-secret", "  Secret "])
def test_the_app_refuses_a_weak_secret_key(runtime: Runtime, secret: str) -> None:
    env = doiflow_environment(runtime.settings.database_url, None, SECRET_KEY=secret)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app(load_settings(env))


def test_a_weak_secret_key_is_fine_with_the_admin_off(runtime: Runtime) -> None:
    env = doiflow_environment(
        runtime.settings.database_url, None, SECRET_KEY="", ADMIN_ENABLED="false"
    )
    app = create_app(load_settings(env))
    try:
        assert app.test_client().get("/admin/login").status_code == 404
    finally:
        app.extensions["doiflow"].close()
