"""A token bucket shared by every worker process (in Redis), keeping us under DataCite's limit.

DataCite allows 3000 requests per 5 minutes in production and 750 on its test system.
Asking first is cheaper than being told: a request that would exceed the budget is
snoozed like a 429, without using an attempt and without reaching DataCite.

A take that finds the bucket empty *reserves* the next free token: the bucket goes
into debt and answers when that token is the caller's. The caller snoozes exactly that
long and then uses its reservation without asking again, so a backlog leaves at the
bucket's own pace, each request in a slot of its own, instead of everyone coming back
at once and most snoozing again. The debt is bounded (an hour of tokens, at least a
window's worth); beyond it a caller is told when to ask again, with nothing reserved.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import redis

from app.clients.errors import TransientError
from app.config import Limit

# Refill by elapsed time, then take one token, into debt down to -debt. Answers
# {wait, reserved}: wait 0 = granted now; reserved 1 = the token at `wait` is yours.
TAKE_SCRIPT = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local debt = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local wait = 0
local reserved = 0
if tokens >= 1 then
  tokens = tokens - 1
elseif tokens - 1 >= -debt then
  tokens = tokens - 1
  wait = -tokens / rate
  reserved = 1
else
  wait = (1 - tokens - debt) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil((capacity + debt) / rate) + 60)
return {tostring(wait), reserved}
"""


# How far ahead tokens may be reserved: an hour of them (at least one window's worth).
RESERVE_AHEAD_SECONDS = 3600


# The share of DataCite's burst we leave unused. Our bucket and DataCite's refill at the
# same rate, but a request reaches DataCite a little after its token was taken here,
# and by a varying amount (a busy worker, a late relay): requests taken in a row can
# arrive closer together than they were taken. Starting from a smaller burst keeps
# DataCite's bucket that many tokens ahead of ours, so such bunching meets a token
# there instead of a 429. The steady rate is the limit's own; only the burst is smaller.
HEADROOM = 0.2


def burst(limit: Limit) -> int:
    """Our bucket's capacity: the limit's burst less the headroom (whole tokens only, so
    a small test limit such as 2/600s keeps its burst)."""
    return max(1, limit.count - int(limit.count * HEADROOM))


def max_debt(limit: Limit) -> float:
    """The most tokens the bucket may owe to reservations."""
    return max(float(limit.count), limit.rate * RESERVE_AHEAD_SECONDS)


@dataclass(frozen=True)
class Grant:
    """What a take answered: go now (wait 0), or come back in `wait` seconds."""

    wait: float
    reserved: bool = False  # the token `wait` from now is already the caller's


class RedisTokenBucket:
    """One bucket for every process that shares the Redis server."""

    def __init__(self, redis_url: str, limit: Limit, key: str = "doiflow:datacite:bucket") -> None:
        self.limit = limit
        self.key = key
        self._redis = redis.Redis.from_url(redis_url, socket_timeout=5)
        self._take = self._redis.register_script(TAKE_SCRIPT)

    def take(self) -> Grant:
        """Take (or reserve) a token."""
        args = [burst(self.limit), self.limit.rate, max_debt(self.limit)]
        try:
            wait, reserved = self._take(keys=[self.key], args=args)
        except redis.RedisError as exc:
            # Asked before any DataCite call: nothing can have been written, so the next
            # delivery need not wait out the write grace before it looks.
            raise TransientError(
                f"the shared rate limiter is unreachable: {type(exc).__name__}: {exc}",
                maybe_applied=False,
            ) from exc
        return Grant(float(wait), bool(int(reserved)))

    def close(self) -> None:
        self._redis.close()


class LocalTokenBucket:
    """The same bucket inside one process (the embedded default has no Redis)."""

    def __init__(self, limit: Limit) -> None:
        self.limit = limit
        self._tokens = float(burst(limit))
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> Grant:
        """Take (or reserve) a token."""
        capacity, rate, debt = burst(self.limit), self.limit.rate, max_debt(self.limit)
        with self._lock:
            now = time.monotonic()
            self._tokens = min(capacity, self._tokens + (now - self._at) * rate)
            self._at = now
            if self._tokens >= 1:
                self._tokens -= 1
                return Grant(0.0)
            if self._tokens - 1 >= -debt:
                self._tokens -= 1
                return Grant(-self._tokens / rate, reserved=True)
            return Grant((1 - self._tokens - debt) / rate)

    def close(self) -> None:
        """Nothing to release."""
