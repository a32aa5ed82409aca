"""Per-request access to the process Runtime and to a database transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app
from sqlalchemy.orm import Session

from app.config import Settings
from app.runtime import Runtime

EXTENSION = "doiflow"


def current_runtime() -> Runtime:
    """The Runtime create_app stored on the application."""
    runtime: Runtime = current_app.extensions[EXTENSION]
    return runtime


def current_settings() -> Settings:
    """The settings services take (never the Runtime: web requests make no remote calls)."""
    return current_runtime().settings


@contextmanager
def transaction() -> Iterator[Session]:
    """One transaction owned by the view: committed on success, rolled back on any error."""
    with current_runtime().sessions.begin() as session:
        yield session
