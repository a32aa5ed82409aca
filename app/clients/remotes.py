"""The remote services a worker talks to: DataCite (one client per thread) and its rate limit."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from app.clients.datacite import DataCiteClient
from app.config import Settings
from app.ratelimit import LocalTokenBucket, RedisTokenBucket


@dataclass
class Remotes:
    """Built once per worker process from Settings; clients are made on first use."""

    settings: Settings
    # requests.Session is not documented as thread-safe: one client per worker thread.
    _local: threading.local = field(default_factory=threading.local)
    _clients: list[DataCiteClient] = field(default_factory=list)
    _bucket: RedisTokenBucket | LocalTokenBucket | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def datacite(self) -> DataCiteClient | None:
        """This thread's DataCite client, or None when DataCite is not configured."""
        if not self.settings.datacite_configured:
            return None
        client: DataCiteClient | None = getattr(self._local, "datacite", None)
        if client is None:
            s = self.settings
            client = DataCiteClient(
                s.datacite_api_url or "",
                s.datacite_user or "",
                s.datacite_password or "",
                read_timeout=s.datacite_read_timeout,
            )
            self._local.datacite = client
            with self._lock:
                self._clients.append(client)
        return client

    @property
    def datacite_bucket(self) -> RedisTokenBucket | LocalTokenBucket:
        """The token bucket every DataCite request takes from (shared via Redis if any)."""
        with self._lock:
            if self._bucket is None:
                limit = self.settings.datacite_rate_limit
                url = self.settings.redis_url
                self._bucket = RedisTokenBucket(url, limit) if url else LocalTokenBucket(limit)
            return self._bucket

    def close(self) -> None:
        """Release connections."""
        with self._lock:
            for client in self._clients:
                client.close()
            if self._bucket is not None:
                self._bucket.close()
