"""The shared DataCite token bucket, on real Redis, and what it does to a DOI."""

from __future__ import annotations

from app.config import Limit
from app.ratelimit import RedisTokenBucket
from tests.fixtures.pipeline import wait_until
from tests.support.lifecycle import concept, create, doi_row, doi_state


def test_bucket_grants_its_capacity_then_says_how_long_to_wait(redis_url: str) -> None:
    first = RedisTokenBucket(redis_url, Limit(3, 300), key="test:bucket")
    second = RedisTokenBucket(redis_url, Limit(3, 300), key="test:bucket")
    grants = [first.take(), second.take(), first.take()]
    assert grants == [0.0, 0.0, 0.0]
    wait = second.take()
    assert 99 < wait <= 100  # one token every 100 s
    first.close()
    second.close()


def test_over_budget_calls_are_snoozed_without_an_attempt_or_a_request(make_pipeline) -> None:
    pipeline = make_pipeline(DATACITE_RATE_LIMIT="2/600s")
    for name in ("rl1", "rl2", "rl3"):
        create(pipeline.runtime, name)
    wait_until(
        lambda: (
            sum(doi_state(pipeline.runtime, concept(n)) == "draft" for n in ("rl1", "rl2", "rl3"))
            == 2
        )
    )
    waiting = next(
        n for n in ("rl1", "rl2", "rl3") if doi_state(pipeline.runtime, concept(n)) == "pending"
    )
    wait_until(lambda: doi_row(pipeline.runtime, concept(waiting)).last_error is not None)
    row = doi_row(pipeline.runtime, concept(waiting))
    assert row.attempts == 0
    assert "rate limit" in row.last_error
    assert len(pipeline.datacite_requests()) == 2
