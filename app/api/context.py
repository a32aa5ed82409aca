"""Per-request access to the process Runtime and to a database transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app, g
from sqlalchemy.orm import Session

from app.config import Settings
from app.runtime import Runtime

EXTENSION = "doiflow"
SESSION = "doiflow_session"


def current_runtime() -> Runtime:
    """The Runtime create_app stored on the application."""
    runtime: Runtime = current_app.extensions[EXTENSION]
    return runtime


def current_settings() -> Settings:
    """The settings services take (never the Runtime: web requests make no remote calls)."""
    return current_runtime().settings


@contextmanager
def transaction() -> Iterator[Session]:
    """The request's one transaction: committed on success, rolled back on any error.

    Authentication opens it (`request_transaction`); the view's `with transaction()` then
    joins it, so a request costs one BEGIN and one COMMIT, its token check included.
    """
    session: Session | None = g.get(SESSION)
    if session is not None:
        yield session
        return
    with current_runtime().sessions.begin() as session:
        yield session


@contextmanager
def request_transaction() -> Iterator[Session]:
    """Open the request's transaction; `transaction()` inside the block joins it."""
    with current_runtime().sessions.begin() as session:
        g.setdefault(SESSION, session)
        try:
            yield session
        finally:
            g.pop(SESSION, None)
