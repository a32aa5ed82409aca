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
        """Open the database described by `settings` (lazily: no connection yet).

        The pool may open a connection per hold-worker thread (the Procfile runs
        HOLD_CONCURRENCY of them) plus the heartbeat's and a few more: with SQLAlchemy's
        default 15, threads past the 15th queued for a connection, heartbeats among them,
        and leases ran out. The pool opens connections only as they are used.
        """
        from app.services import archive_events

        url = settings.database_url
        pool = {} if url.startswith("sqlite") else {"max_overflow": settings.hold_concurrency + 10}
        engine = make_engine(url, **pool)
        sessions = make_session_factory(engine)
        # Events for the archive's webhook are noticed wherever a change is flushed.
        archive_events.install(sessions, settings)
        return cls(settings=settings, engine=engine, sessions=sessions)

    def close(self) -> None:
        """Release connections (tests and CLI commands call this)."""
        self.engine.dispose()
