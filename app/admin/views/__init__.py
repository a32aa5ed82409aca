"""The admin pages, one module per page; importing them adds their routes to the blueprint."""

from __future__ import annotations


def load() -> None:
    """Import every page module (idempotent: modules register their routes once)."""
    from app.admin.views import (  # noqa: F401
        audit,
        auth,
        bulk,
        dashboard,
        dois,
        holds,
        jobs,
        outbox,
        tokens,
        users,
    )
