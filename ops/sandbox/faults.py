"""Fault rules, interruptible sleeps and the rate-limit token bucket."""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ops.sandbox import doi as doi_strings

# `timeout`: stall, never apply. `timeout_after_commit`: apply, then stall (the answer is
# lost). `reset`: drop the connection before applying; `reset_after_commit`: after.
ACTIONS = frozenset({"timeout", "timeout_after_commit", "reset", "reset_after_commit"})
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@dataclass
class FaultRule:
    """One injected fault: which requests it hits, how often, and what it does."""

    method: str | None = None
    doi: str | None = None
    times: int | None = None
    probability: float | None = None
    respond: dict | None = None
    action: str | None = None
    seconds: float = 0.0
    latency_ms: int = 0

    @classmethod
    def from_json(cls, data: object) -> FaultRule:
        """Build a rule from its JSON form; raise ValueError when it makes no sense."""
        if not isinstance(data, dict):
            raise ValueError("a fault rule must be a JSON object")
        rule = cls(
            method=_method(data.get("method")),
            doi=_doi(data.get("doi")),
            times=_optional_number(data, "times", int, minimum=1),
            probability=_optional_number(data, "probability", float, minimum=0, maximum=1),
            respond=_respond(data.get("respond")),
            action=data.get("action"),
            seconds=_optional_number(data, "seconds", float, minimum=0) or 0.0,
            latency_ms=_optional_number(data, "latency_ms", int, minimum=0) or 0,
        )
        rule._check_effect()
        return rule

    def _check_effect(self) -> None:
        if self.action is not None and self.action not in ACTIONS:
            raise ValueError(f"action must be one of {sorted(ACTIONS)}")
        if self.action is not None and self.respond is not None:
            raise ValueError("give either respond or action, not both")
        if self.action is None and self.respond is None and not self.latency_ms:
            raise ValueError("a fault rule needs respond, action or latency_ms")

    @property
    def has_effect(self) -> bool:
        """Whether the rule replaces or disturbs the answer (beyond adding latency)."""
        return self.respond is not None or self.action is not None

    def matches(self, method: str, doi: str | None) -> bool:
        """Tell whether a request with this method and DOI is in the rule's scope."""
        if self.method is not None and self.method != method.upper():
            return False
        return self.doi is None or self.doi == doi

    def to_json(self) -> dict:
        """Return the rule as the control API shows it."""
        return {
            "method": self.method,
            "doi": self.doi,
            "times": self.times,
            "probability": self.probability,
            "respond": self.respond,
            "action": self.action,
            "seconds": self.seconds,
            "latency_ms": self.latency_ms,
        }


def _method(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value.upper() not in _METHODS:
        raise ValueError(f"method must be null or one of {sorted(_METHODS)}")
    return value.upper()


def _doi(value: object) -> str | None:
    if value is None:
        return None
    doi = doi_strings.extract(value if isinstance(value, str) else None)
    if doi is None:
        raise ValueError(f"not a DOI: {value!r}")
    return doi


def _optional_number(data: dict, key: str, kind: type, minimum=None, maximum=None):
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{key} is out of range")
    return kind(value)


def _respond(value: object) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("status"), int):
        raise ValueError("respond must be an object with an integer status")
    if not 100 <= value["status"] <= 599:
        raise ValueError("respond.status must be an HTTP status")
    if not isinstance(value.get("headers") or {}, dict):
        raise ValueError("respond.headers must be an object")
    return value


@dataclass
class FaultPlan:
    """What the matching rules do to one request."""

    latency_ms: int = 0
    effect: FaultRule | None = None


class FaultBook:
    """The active fault rules, consumed thread-safely as requests arrive."""

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        # Seeded so a probability rule behaves the same way on every run.
        self._random = random.Random(seed)

    def add(self, rules: list[FaultRule]) -> list[FaultRule]:
        """Append rules; return every active rule."""
        with self._lock:
            self._rules.extend(rules)
            return list(self._rules)

    def rules(self) -> list[FaultRule]:
        """Return the active rules."""
        with self._lock:
            return list(self._rules)

    def clear(self) -> None:
        """Drop every rule and reseed the random draws."""
        with self._lock:
            self._rules.clear()
            self._random = random.Random(self._seed)

    def draw(self, method: str, doi: str | None) -> FaultPlan:
        """Pick what happens to one request: latency adds up, the first effect wins."""
        plan = FaultPlan()
        with self._lock:
            for rule in list(self._rules):
                if plan.effect is not None and rule.has_effect:
                    continue
                if not rule.matches(method, doi) or not self._fires(rule):
                    continue
                plan.latency_ms += rule.latency_ms
                if rule.has_effect:
                    plan.effect = rule
                self._count_down(rule)
        return plan

    def _fires(self, rule: FaultRule) -> bool:
        return rule.probability is None or self._random.random() < rule.probability

    def _count_down(self, rule: FaultRule) -> None:
        if rule.times is None:
            return
        rule.times -= 1
        if rule.times <= 0:
            self._rules.remove(rule)


class Alarm:
    """Sleeps that a reset or a stop cuts short, so tests never hang on a fault."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._event = threading.Event()
        self._closed = False

    def sleep(self, seconds: float) -> bool:
        """Wait `seconds`; return True when woken early by a reset or stop."""
        with self._lock:
            event = self._event
        return event.wait(seconds) if seconds > 0 else False

    def wake(self) -> None:
        """End every current sleep; later sleeps run normally unless closed."""
        with self._lock:
            self._event.set()
            if not self._closed:
                self._event = threading.Event()

    def reopen(self) -> None:
        """Undo `close`."""
        with self._lock:
            if self._closed:
                self._closed = False
                self._event = threading.Event()

    def close(self) -> None:
        """End every sleep, now and from now on."""
        with self._lock:
            self._closed = True
            self._event.set()


_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*([smh]?)\s*")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600}


def parse_rate_limit(text: str) -> tuple[int, float]:
    """Parse `750/300s` (also `/5m`, `/1h`, `/300`) into (requests, period seconds)."""
    match = _RATE.fullmatch(text or "")
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"rate limit must look like 750/300s, not {text!r}")
    period = float(match.group(2) or 1) * _UNIT_SECONDS[match.group(3)]
    if period <= 0:
        raise ValueError("rate limit period must be positive")
    return int(match.group(1)), period


class TokenBucket:
    """`capacity` requests per `period` seconds, refilled continuously."""

    def __init__(
        self, capacity: int, period: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.capacity = capacity
        self.period = period
        self._clock = clock
        self._tokens = float(capacity)
        self._stamp = clock()
        self._lock = threading.Lock()

    def take(self) -> float | None:
        """Spend one token; return None if allowed, else the seconds until one is free."""
        with self._lock:
            now = self._clock()
            rate = self.capacity / self.period
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * rate)
            self._stamp = now
            if self._tokens >= 1:
                self._tokens -= 1
                return None
            return (1 - self._tokens) / rate


def retry_after_header(wait: float) -> str:
    """Format a wait as whole seconds for Retry-After, at least 1."""
    return str(max(1, math.ceil(wait)))
