"""The shared DataCite token bucket, on real Redis, and what it does to a DOI."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from app.config import Limit
from app.models import IntentEvent
from app.ratelimit import RedisTokenBucket
from tests.fixtures.pipeline import wait_until
from tests.support.lifecycle import concept, create, doi_row, doi_state


def test_bucket_grants_its_capacity_then_says_how_long_to_wait(redis_url: str) -> None:
    first = RedisTokenBucket(redis_url, Limit(3, 300), key="test:bucket")
    second = RedisTokenBucket(redis_url, Limit(3, 300), key="test:bucket")
    grants = [first.take(), second.take(), first.take()]
    assert [g.wait for g in grants] == [0.0, 0.0, 0.0]
    # Shared: whichever process asks next is given the next token, 100 s away
    reserved = second.take()
    assert reserved.reserved
    assert 99 < reserved.wait <= 100  # one token every 100 s
    assert 199 < first.take().wait <= 200
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


def test_a_backlog_leaves_at_the_bucket_pace_each_in_its_reserved_slot(make_pipeline) -> None:
    # Given a limit of 5 requests per second (burst 5) and 15 DOIs at once
    pipeline = make_pipeline(DATACITE_RATE_LIMIT="5/1s", RELAY_POLL_SECONDS="0.05")
    names = [f"paced{n}" for n in range(40)]
    for name in names:
        create(pipeline.runtime, name)
    wait_until(
        lambda: all(doi_state(pipeline.runtime, concept(n)) == "draft" for n in names), timeout=20
    )
    # Then DataCite saw 15 PUTs: the burst of 5, then the other 10 at 5 per second, never
    # more in a second than the bucket holds plus what it refills (5 + 5), and each
    # snoozed intent came back once (its token reserved), not again and again
    times = sorted(datetime.fromisoformat(r["time"]) for r in pipeline.datacite_requests())
    assert len(times) == 15
    assert (times[-1] - times[0]).total_seconds() >= 1.8
    for i, start in enumerate(times):
        within = [t for t in times[i:] if (t - start).total_seconds() < 1.0]
        assert len(within) <= 10, (start, within)
    with pipeline.runtime.sessions() as session:
        snoozes = session.scalar(select(func.count()).where(IntentEvent.kind == "snooze"))
    assert snoozes <= 10 + 2  # the 10 over the burst, once each (timing may add a couple)


def test_a_backlog_at_datacites_own_limit_meets_no_429(make_pipeline, sandbox_control) -> None:
    # Given DataCite limiting to 10 requests a second, our bucket configured the same, and
    # a backlog four times its burst arriving at once
    sandbox_control.configure(rate_limit="10/1s")
    pipeline = make_pipeline(DATACITE_RATE_LIMIT="10/1s")
    names = [f"limited{n}" for n in range(40)]
    for name in names:
        create(pipeline.runtime, name)
    wait_until(
        lambda: all(doi_state(pipeline.runtime, concept(n)) == "draft" for n in names), timeout=30
    )
    # Then every request found a token at DataCite: none was answered 429, each DOI sent once
    statuses = [r["status"] for r in pipeline.datacite_requests()]
    assert statuses.count(429) == 0
    assert len(statuses) == 40
