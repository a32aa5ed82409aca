"""Helpers for the admin page tests: accounts, a logged-in client, CSRF tokens from pages."""

from __future__ import annotations

import itertools
import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.enums import AdminRole
from app.models import AuditLog
from app.runtime import Runtime
from app.services import admins

PASSWORD = "correct horse battery staple"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
_numbers = itertools.count(1)


def create_account(runtime: Runtime, role: str, email: str | None = None) -> str:
    """A new account with PASSWORD; returns its email."""
    email = email or f"{role}-{next(_numbers)}@example.org"
    with runtime.sessions.begin() as session:
        admins.create(session, email, PASSWORD, AdminRole(role), actor="cli:test")
    return email


def csrf_in(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = CSRF_FIELD.search(html)
    assert match, f"no csrf_token field in the page:\n{html[:500]}"
    return match.group(1)


class AdminClient:
    """A test client logged in as one account; `post` adds a valid CSRF token."""

    def __init__(self, client: FlaskClient, email: str) -> None:
        self.client = client
        self.email = email

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, **kwargs)

    def page(self, path: str, status: int = 200) -> str:
        """GET a page, expecting `status`; its HTML."""
        answer = self.client.get(path)
        assert answer.status_code == status, (
            answer.status_code,
            answer.get_data(as_text=True)[:800],
        )
        return str(answer.get_data(as_text=True))

    def token(self) -> str:
        return csrf_in(self.page("/admin/"))

    def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True) -> Any:
        form = dict(data or {})
        if csrf:
            form["csrf_token"] = self.token()
        return self.client.post(path, data=form)


def log_in(app: Flask, runtime: Runtime, role: str) -> AdminClient:
    """A fresh client logged in as a new account holding `role`."""
    email = create_account(runtime, role)
    client = app.test_client()
    login_page = client.get("/admin/login").get_data(as_text=True)
    answer = client.post(
        "/admin/login",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf_in(login_page)},
    )
    assert answer.status_code == 303, answer.get_data(as_text=True)[:500]
    return AdminClient(client, email)


def audit_count(runtime: Runtime, action: str | None = None) -> int:
    """How many audit rows there are (of one action)."""
    query = select(func.count()).select_from(AuditLog)
    if action is not None:
        query = query.where(AuditLog.action == action)
    with runtime.sessions() as session:
        return int(session.scalar(query) or 0)
