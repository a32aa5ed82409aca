"""Run alembic from code: `doiflow db upgrade`, and the drift check the tests use."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

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
    command.upgrade(alembic_config(database_url), revision)


def check(database_url: str) -> None:
    """Raise if the models and the migrations disagree (alembic check)."""
    command.check(alembic_config(database_url))
