"""The remote services a worker talks to, DataCite and S3, and the limits on their calls."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from app.clients.datacite import DataCiteClient
from app.clients.storage import StorageClient
from app.config import Settings
from app.ratelimit import LocalTokenBucket, RedisTokenBucket
from app.semaphore import LocalSemaphore, RedisSemaphore


@dataclass
class Remotes:
    """Built once per worker process from Settings; clients are made on first use."""

    settings: Settings
    # requests.Session is not documented as thread-safe: one client per worker thread.
    _local: threading.local = field(default_factory=threading.local)
    _clients: list[Any] = field(default_factory=list)
    _bucket: RedisTokenBucket | LocalTokenBucket | None = None
    _slots: RedisSemaphore | LocalSemaphore | None = None
    _storage: StorageClient | None = None
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

    @property
    def storage(self) -> StorageClient | None:
        """The process's S3 client, or None when S3 is not configured (no S3 call at all)."""
        if not self.settings.s3_configured:
            return None
        with self._lock:
            if self._storage is None:
                # One client for every thread: boto3's low-level clients are thread-safe
                # (its sessions are not, and each client gets a session of its own). A
                # client per thread cost each worker thread ~0.1 s of CPU on its first S3
                # call, taken from the other threads' calls. Every S3 call of a worker
                # runs in one of the HOLD_CONCURRENCY slots, so that many connections do,
                # with room for a slot that expired under a long batch (urllib3 would
                # open and discard connections beyond the pool, not fail).
                self._storage = StorageClient.from_settings(
                    self.settings, max_connections=self.settings.hold_concurrency + 2
                )
                self._clients.append(self._storage)
            return self._storage

    @property
    def hold_slots(self) -> RedisSemaphore | LocalSemaphore:
        """HOLD_CONCURRENCY slots every `holds` delivery takes one of (shared via Redis if any)."""
        with self._lock:
            if self._slots is None:
                s = self.settings
                self._slots = (
                    RedisSemaphore(s.redis_url, s.hold_concurrency, expire_seconds=s.lease_seconds)
                    if s.redis_url
                    else LocalSemaphore(s.hold_concurrency)
                )
            return self._slots

    def close(self) -> None:
        """Release connections."""
        with self._lock:
            for client in self._clients:
                client.close()
            if self._bucket is not None:
                self._bucket.close()
            if self._slots is not None:
                self._slots.close()
