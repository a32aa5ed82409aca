"""What a running process holds: settings, the database and the remote clients."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import make_engine, make_session_factory
from app.ratelimit import LocalTokenBucket, RedisTokenBucket

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
    _bucket: RedisTokenBucket | LocalTokenBucket | None = None
    _bucket_lock: threading.Lock = field(default_factory=threading.Lock)

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

    @property
    def datacite_bucket(self) -> RedisTokenBucket | LocalTokenBucket:
        """The token bucket every DataCite request takes from (shared via Redis if any)."""
        with self._bucket_lock:
            if self._bucket is None:
                limit = self.settings.datacite_rate_limit
                url = self.settings.redis_url
                self._bucket = RedisTokenBucket(url, limit) if url else LocalTokenBucket(limit)
            return self._bucket

    def close(self) -> None:
        """Release connections (tests and CLI commands call this)."""
        for client in self._clients:
            client.close()
        if self._bucket is not None:
            self._bucket.close()
        self.engine.dispose()
