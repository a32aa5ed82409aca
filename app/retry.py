"""One retry decision for every topic: permanent → fail, throttled → snooze, transient → backoff.

Like procrastinate's `RetryStrategy.get_retry_decision`: one place decides, every
handler obeys. Attempts are counted when a delivery starts, so `attempts` here
includes the delivery that just failed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from app.clients.errors import PermanentError, RemoteError, ThrottledError
from app.config import RetryPolicy

# Never sooner than this after a 429, even one saying "Retry-After: 0" (no tight loop).
MIN_SNOOZE_SECONDS = 0.5


class Verdict(StrEnum):
    RETRY = "retry"  # transient: try again after a backoff, the attempt is spent
    SNOOZE = "snooze"  # throttled: try again later, the attempt is given back
    FAIL = "fail"  # permanent, or attempts or age exhausted: a person must act
    # A step of a handler's choreography is done (e.g. the stash before a DELETE): the
    # same intent is delivered again at once for the next step, no attempt spent, no error.
    CONTINUE = "continue"


@dataclass(frozen=True)
class RetryDecision:
    """What happens to an intent whose delivery ended in `error`."""

    verdict: Verdict
    delay_seconds: float = 0.0
    reason: str = ""

    @property
    def gives_up(self) -> bool:
        return self.verdict is Verdict.FAIL


def backoff_seconds(attempts: int, policy: RetryPolicy, rng: random.Random | None = None) -> float:
    """Delay before the next try after `attempts` failed ones (AWS "full jitter")."""
    ceiling = min(policy.cap_seconds, policy.base_seconds * (2 ** max(0, attempts - 1)))
    return (rng or random).uniform(0, ceiling)


def exhausted(attempts: int, first_tried_at: datetime, now: datetime, policy: RetryPolicy) -> bool:
    """True when no more automatic tries are allowed (by count or by age)."""
    too_old = (now - first_tried_at).total_seconds() >= policy.max_age_seconds
    return attempts >= policy.max_attempts or too_old


def decide(
    error: RemoteError,
    *,
    attempts: int,
    throttles: int,
    created_at: datetime,
    now: datetime,
    policy: RetryPolicy,
) -> RetryDecision:
    """The decision for an intent whose latest delivery (attempt `attempts`) ended in `error`."""
    age = (now - created_at).total_seconds()
    if isinstance(error, PermanentError):
        return RetryDecision(Verdict.FAIL, reason="permanent error")
    if age >= policy.max_age_seconds:
        return RetryDecision(
            Verdict.FAIL,
            reason=f"retries exhausted after {attempts} attempts in {age:.0f} s "
            f"(DOI_MAX_AGE_SECONDS {policy.max_age_seconds:g})",
        )
    if isinstance(error, ThrottledError):
        return RetryDecision(Verdict.SNOOZE, _snooze(error, throttles, policy), "throttled")
    if attempts >= policy.max_attempts:
        return RetryDecision(
            Verdict.FAIL, reason=f"retries exhausted after {attempts} attempts in {age:.0f} s"
        )
    return RetryDecision(Verdict.RETRY, backoff_seconds(attempts, policy), "transient error")


def _snooze(error: ThrottledError, throttles: int, policy: RetryPolicy) -> float:
    if error.exact and error.retry_after is not None:
        # Our own bucket knows the moment a token is free: come back exactly then.
        return error.retry_after
    if error.retry_after is not None:
        return max(error.retry_after, MIN_SNOOZE_SECONDS)
    # No Retry-After (an edge's HTML 429/403): grow with each throttle, bounded by age.
    return max(MIN_SNOOZE_SECONDS, policy.base_seconds, backoff_seconds(throttles, policy))
