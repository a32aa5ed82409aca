"""A counting semaphore shared by every hold worker (in Redis): HOLD_CONCURRENCY S3 calls at most.

Why a semaphore and not the relay's claims: the relay hands out intents of every topic
from one claim, and what limits S3 is how many calls are in flight, wherever the
workers run (several hold-worker processes, dynos). Each delivery of a `holds` topic
takes one slot around its remote step and gives it back after; a slot is a member of
a Redis sorted set scored by its expiry, so a worker killed while holding one frees it
when its lease would have run out, and no slot leaks.
"""

from __future__ import annotations

import threading
import time
import uuid

import redis

# Drop expired slots, then take one if fewer than the limit are held; Redis's own clock.
ACQUIRE_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 60)
  return 1
end
return 0
"""
# Short: a slot left idle between two batches is lost throughput (HOLD_CONCURRENCY=1).
POLL_SECONDS = 0.002


class RedisSemaphore:
    """`limit` slots for every process that shares the Redis server."""

    def __init__(
        self, redis_url: str, limit: int, *, expire_seconds: float, key: str = "doiflow:holds:slots"
    ) -> None:
        self.limit = limit
        self.key = key
        self.expire_seconds = expire_seconds
        self._redis = redis.Redis.from_url(redis_url, socket_timeout=5)
        self._acquire = self._redis.register_script(ACQUIRE_SCRIPT)

    def acquire(self, timeout: float) -> str | None:
        """A slot's token, waiting up to `timeout` seconds for one; None when none came free."""
        token = uuid.uuid4().hex
        deadline = time.monotonic() + timeout
        while True:
            if self._acquire(keys=[self.key], args=[self.limit, self.expire_seconds, token]):
                return token
            if time.monotonic() >= deadline:
                return None
            time.sleep(POLL_SECONDS)

    def release(self, token: str) -> None:
        """Give the slot back."""
        self._redis.zrem(self.key, token)

    def held(self) -> int:
        """How many slots are taken right now (expired ones included until the next acquire)."""
        return int(self._redis.zcard(self.key))

    def close(self) -> None:
        self._redis.close()


class LocalSemaphore:
    """The same limit inside one process (the embedded default has no Redis)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._semaphore = threading.BoundedSemaphore(limit)
        self._held: set[str] = set()
        self._lock = threading.Lock()

    def acquire(self, timeout: float) -> str | None:
        """A slot's token, waiting up to `timeout` seconds; None when none came free."""
        if not self._semaphore.acquire(timeout=timeout):
            return None
        token = uuid.uuid4().hex
        with self._lock:
            self._held.add(token)
        return token

    def release(self, token: str) -> None:
        """Give the slot back (a token given back twice is ignored)."""
        with self._lock:
            if token not in self._held:
                return
            self._held.discard(token)
        self._semaphore.release()

    def held(self) -> int:
        with self._lock:
            return len(self._held)

    def close(self) -> None:
        """Nothing to release."""
