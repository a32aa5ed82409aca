"""Per-request database access for the admin pages: bounded, and read-only when reading."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.api.context import current_runtime
from app.config import Settings
from app.db import is_postgres

# No admin query may hold a connection longer than this (Postgres cancels it).
READ_TIMEOUT_MS = 3000
# Bulk actions touch up to BULK_LIMIT intents in one transaction.
WRITE_TIMEOUT_MS = 30000
QUERY_CANCELED = "57014"


class QueryTooSlowError(Exception):
    """Postgres cancelled a query at the admin's statement_timeout."""


def settings() -> Settings:
    """The process settings."""
    return current_runtime().settings


@contextmanager
def reading() -> Iterator[Session]:
    """A read-only transaction whose statements Postgres cuts off after READ_TIMEOUT_MS."""
    with _transaction(read_only=True, timeout_ms=READ_TIMEOUT_MS) as session:
        yield session


@contextmanager
def writing() -> Iterator[Session]:
    """A transaction for one action: committed when the block ends, rolled back on error."""
    with _transaction(read_only=False, timeout_ms=WRITE_TIMEOUT_MS) as session:
        yield session


@contextmanager
def _transaction(*, read_only: bool, timeout_ms: int) -> Iterator[Session]:
    try:
        with current_runtime().sessions.begin() as session:
            if is_postgres(session):
                if read_only:
                    session.execute(text("SET TRANSACTION READ ONLY"))
                session.execute(text(f"SET LOCAL statement_timeout = {int(timeout_ms)}"))
            yield session
    except OperationalError as error:
        if getattr(error.orig, "sqlstate", None) == QUERY_CANCELED:
            raise QueryTooSlowError(f"a query ran longer than {timeout_ms} ms") from None
        raise
