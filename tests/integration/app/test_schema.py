"""The migrations build exactly the schema the models describe (alembic check)."""

from __future__ import annotations

from app.schema import check


def test_migrations_match_the_models(database_url: str) -> None:
    check(database_url)
