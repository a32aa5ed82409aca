"""A token bucket shared by every worker process (in Redis), keeping us under DataCite's limit.

DataCite allows 3000 requests per 5 minutes in production and 750 on its test system.
Asking first is cheaper than being told: a request that would exceed the budget is
snoozed like a 429, without using an attempt and without reaching DataCite.
"""

from __future__ import annotations

import threading
import time

import redis

from app.config import Limit

# Refill by elapsed time, then take one token; answer how long to wait when empty.
TAKE_SCRIPT = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 60)
return tostring(wait)
"""


class RedisTokenBucket:
    """One bucket for every process that shares the Redis server."""

    def __init__(self, redis_url: str, limit: Limit, key: str = "doiflow:datacite:bucket") -> None:
        self.limit = limit
        self.key = key
        self._redis = redis.Redis.from_url(redis_url, socket_timeout=5)
        self._take = self._redis.register_script(TAKE_SCRIPT)

    def take(self) -> float:
        """Take a token: 0.0 when granted, else the seconds to wait before asking again."""
        return float(self._take(keys=[self.key], args=[self.limit.count, self.limit.rate]))

    def close(self) -> None:
        self._redis.close()


class LocalTokenBucket:
    """The same bucket inside one process (the embedded default has no Redis)."""

    def __init__(self, limit: Limit) -> None:
        self.limit = limit
        self._tokens = float(limit.count)
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Take a token: 0.0 when granted, else the seconds to wait."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.limit.count, self._tokens + (now - self._at) * self.limit.rate)
            self._at = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self.limit.rate

    def close(self) -> None:
        """Nothing to release."""
