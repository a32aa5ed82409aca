"""The one retry decision: backoff, exhaustion, and the verdict for each kind of error."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from app.config import RetryPolicy
from app.retry import backoff_seconds, exhausted


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    policy = RetryPolicy(base_seconds=1, cap_seconds=10)
    rng = random.Random(4)
    delays = [backoff_seconds(n, policy, rng) for n in range(1, 9) for _ in range(50)]
    assert all(0 <= d <= 10 for d in delays)
    assert max(backoff_seconds(1, policy, rng) for _ in range(50)) <= 1
    assert max(delays) > 5


def test_exhausted_by_count_or_age() -> None:
    policy = RetryPolicy(max_attempts=3, max_age_seconds=60)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert not exhausted(2, start, start + timedelta(seconds=10), policy)
    assert exhausted(3, start, start + timedelta(seconds=10), policy)
    assert exhausted(1, start, start + timedelta(seconds=61), policy)
