"""What every process holds: its settings and its database.

Remote clients live apart (`app.clients.remotes.Remotes`, built by workers only), so a
web request, which only writes intents, can never call DataCite or S3 by accident.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import make_engine, make_session_factory


@dataclass
class Runtime:
    """One per process; built once from Settings, shared by the app, CLI and workers."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        """Open the database described by `settings` (lazily: no connection yet)."""
        engine = make_engine(settings.database_url)
        return cls(settings=settings, engine=engine, sessions=make_session_factory(engine))

    def close(self) -> None:
        """Release connections (tests and CLI commands call this)."""
        self.engine.dispose()
