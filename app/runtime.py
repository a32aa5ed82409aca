"""What a running process holds: settings, the database and the remote clients."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import make_engine, make_session_factory

if TYPE_CHECKING:
    from app.clients.datacite import DataCiteClient


@dataclass
class Runtime:
    """One per process; built once from Settings, shared by the app, CLI and workers."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    # requests.Session is not documented as thread-safe: one client per worker thread.
    _local: threading.local = field(default_factory=threading.local)
    _clients: list[DataCiteClient] = field(default_factory=list)

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        """Open the database described by `settings` (lazily: no connection yet)."""
        engine = make_engine(settings.database_url)
        return cls(settings=settings, engine=engine, sessions=make_session_factory(engine))

    @property
    def datacite(self) -> DataCiteClient | None:
        """The DataCite client, or None when DataCite is not configured."""
        if not self.settings.datacite_configured:
            return None
        client: DataCiteClient | None = getattr(self._local, "datacite", None)
        if client is None:
            from app.clients.datacite import DataCiteClient

            s = self.settings
            client = DataCiteClient(
                s.datacite_api_url or "",
                s.datacite_user or "",
                s.datacite_password or "",
                read_timeout=s.datacite_read_timeout,
            )
            self._local.datacite = client
            self._clients.append(client)
        return client

    def close(self) -> None:
        """Release connections (tests and CLI commands call this)."""
        for client in self._clients:
            client.close()
        self.engine.dispose()
