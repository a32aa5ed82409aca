"""Run alembic from code: `doiflow db upgrade`, the drift check the tests use, and the
schema status every process checks at start-up (and `/api/health` reports)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

import migrations


def alembic_config(database_url: str) -> Config:
    """An alembic Config pointing at doiflow's migrations and `database_url`."""
    config = Config()
    # __path__, not __file__: it also works when migrations loads as a namespace package.
    config.set_main_option("script_location", str(Path(next(iter(migrations.__path__)))))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema up to `revision`."""
    from alembic import command  # loads autogenerate, whose plugins log INFO lines on import

    command.upgrade(alembic_config(database_url), revision)


def check(database_url: str) -> None:
    """Raise if the models and the migrations disagree (alembic check)."""
    from alembic import command

    command.check(alembic_config(database_url))


@dataclass(frozen=True)
class SchemaStatus:
    """Where a database's schema stands against this code's migrations."""

    current: tuple[str, ...]  # the revisions the database is at (none: no doiflow schema)
    heads: tuple[str, ...]  # the revisions this code's migrations end at

    @property
    def at_head(self) -> bool:
        return set(self.current) == set(self.heads)

    def problem(self) -> str | None:
        """None at head; otherwise one sentence saying where it is and what to run."""
        if self.at_head:
            return None
        needs = ", ".join(self.heads)
        if not self.current:
            return f"the database has no doiflow schema (needs {needs}): run `doiflow db upgrade`"
        at = ", ".join(self.current)
        unknown = set(self.current) - known_revisions()
        if unknown:
            return (
                f"the database schema is at {at}, which this doiflow does not know "
                f"(it needs {needs}): a newer release migrated it; deploy that release"
            )
        return f"the database schema is at {at}, doiflow needs {needs}: run `doiflow db upgrade`"


@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def known_revisions() -> set[str]:
    """Every revision this code's migrations define."""
    return {revision.revision for revision in _script().walk_revisions()}


def status(connection: Connection) -> SchemaStatus:
    """The schema status seen through `connection` (one small query)."""
    # Its "Context impl …" INFO lines would open every process's log and health check.
    migration_log = logging.getLogger("alembic.runtime.migration")
    level = migration_log.level
    migration_log.setLevel(logging.WARNING)
    try:
        current = MigrationContext.configure(connection).get_current_heads()
    finally:
        migration_log.setLevel(level)
    return SchemaStatus(current=tuple(sorted(current)), heads=tuple(sorted(_script().get_heads())))
