"""Backoff for transient failures: exponential with full jitter and a cap."""

from __future__ import annotations

import random
from datetime import datetime

from app.config import RetryPolicy


def backoff_seconds(attempts: int, policy: RetryPolicy, rng: random.Random | None = None) -> float:
    """Delay before the next try after `attempts` failed ones (AWS "full jitter")."""
    ceiling = min(policy.cap_seconds, policy.base_seconds * (2 ** max(0, attempts - 1)))
    return (rng or random).uniform(0, ceiling)


def exhausted(attempts: int, first_tried_at: datetime, now: datetime, policy: RetryPolicy) -> bool:
    """True when no more automatic tries are allowed (by count or by age)."""
    too_old = (now - first_tried_at).total_seconds() >= policy.max_age_seconds
    return attempts >= policy.max_attempts or too_old
