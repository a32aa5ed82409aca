"""The generic runner on real Postgres and Redis: attempts, crashes, leases, the timeline."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import select, text

from app import claiming, outbox
from app.clients.remotes import Remotes
from app.config import Limit
from app.db import utcnow
from app.heartbeat import Heartbeats
from app.models import Intent, IntentEvent
from app.ratelimit import LocalTokenBucket, RedisTokenBucket
from app.recorder import BackgroundRecorder
from app.runner import Runner
from app.services import doi_outcome
from app.services.doi_sync import HANDLER
from tests.fixtures.pipeline import wait_until
from tests.support.lifecycle import concept, create, doi_row, doi_state, open_intents
from workers.relay import Relay


def _claim_one(runtime, lease: float = 30) -> outbox.Claim:
    with runtime.sessions.begin() as session:
        [claim] = claiming.claim_due(session, limit=10, lease_seconds=lease)
    return claim


def _between_deliveries(runtime, doi: str):
    """The DOI's row once it has an error and no delivery is in flight, read in one
    statement (one snapshot), else None."""
    query = text(
        "SELECT d.state, d.last_error, d.in_doubt_since FROM dois d WHERE d.doi = :doi"
        " AND d.last_error IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.status = 'enqueued')"
    )
    with runtime.sessions() as session:
        return session.execute(query, {"doi": doi}).first()


def _events(runtime, intent_id: int) -> list[IntentEvent]:
    with runtime.sessions() as session:
        query = select(IntentEvent).where(IntentEvent.intent_id == intent_id)
        return list(session.scalars(query.order_by(IntentEvent.id)))


def test_a_worker_outage_longer_than_all_attempts_fails_nothing(make_pipeline) -> None:
    # Given the relay claiming and rescuing for longer than DOI_MAX_ATTEMPTS x LEASE_SECONDS
    # while no worker takes anything (the messages go to a broker nobody consumes)
    pipeline = make_pipeline(start=False, DOI_MAX_ATTEMPTS="3", LEASE_SECONDS="5")
    runtime = pipeline.runtime
    for n in range(3):
        create(runtime, f"outage{n}")
    relay, now = Relay(runtime, StubBroker()), utcnow()
    relay.broker.declare_queue("doi")
    for _ in range(10):  # 10 leases: more than three times over
        relay.run_once(now=now)
        now += timedelta(seconds=6)
    with runtime.sessions.begin() as session:
        outbox.rescue_expired(session, now=now)  # the last claims, as the next pass would
    with runtime.sessions() as session:
        intents = session.scalars(select(Intent)).all()
        assert {(i.status, i.attempts) for i in intents} == {("pending", 0)}
    # When the workers come back
    pipeline.start()
    # Then every DOI reaches its target: the outage used none of their attempts
    for n in range(3):
        wait_until(lambda n=n: doi_state(runtime, concept(f"outage{n}")) == "draft")


def test_the_worker_renews_the_lease_when_it_starts(runtime) -> None:
    create(runtime, "lease")
    claim = _claim_one(runtime, lease=0.5)
    runner = Runner(runtime, Remotes(runtime.settings))
    delivery = runner.start(HANDLER, claim.intent_id, claim.lease_token)
    assert delivery is not None
    assert delivery.attempt == 1
    with runtime.sessions.begin() as session:
        assert outbox.rescue_expired(session, now=utcnow() + timedelta(seconds=1)) == 0


def test_a_second_copy_of_a_message_never_calls_out_beside_the_first(runtime) -> None:
    # Given a delivery that started (Dramatiq then took its worker for dead)
    create(runtime, "copy")
    claim = _claim_one(runtime)
    runner = Runner(runtime, Remotes(runtime.settings))
    first = runner.start(HANDLER, claim.intent_id, claim.lease_token)
    assert first is not None
    assert first.lease_token != claim.lease_token

    # When Dramatiq hands the same message out again while the first is calling
    second = runner.start(HANDLER, claim.intent_id, claim.lease_token)

    # Then the copy is stale: no attempt, no call; the first records as usual
    assert second is None
    runner.finish(runner.call(first))
    assert doi_state(runtime, concept("copy")) == "draft"
    kinds = [e.kind for e in _events(runtime, claim.intent_id)]
    assert kinds == ["claimed", "started", "call", "done"]
    with runtime.sessions() as session:
        intent = session.get(Intent, claim.intent_id)
        assert intent is not None
        assert (intent.status, intent.attempts) == ("done", 1)


def test_a_bug_while_preparing_is_recorded_under_the_messages_lease(runtime, monkeypatch) -> None:
    # Given a delivery whose handler fails while deciding (its start then rolls back,
    # new lease token included)
    def broken(*_args, **_kwargs):
        raise KeyError("a bug while preparing")

    create(runtime, "prep-bug")
    claim = _claim_one(runtime)
    monkeypatch.setattr(HANDLER, "prepare", broken)

    # When it runs
    assert (
        Runner(runtime, Remotes(runtime.settings)).start(
            HANDLER, claim.intent_id, claim.lease_token
        )
        is None
    )

    # Then the crash is recorded with the message's token: an attempt spent, the error
    # kept on the intent and the DOI, the intent waiting for its retry
    with runtime.sessions() as session:
        intent = session.get(Intent, claim.intent_id)
        assert intent is not None
        assert (intent.status, intent.attempts, intent.lease_token) == ("pending", 1, None)
        assert "a bug while preparing" in (intent.last_error or "")
    assert "a bug while preparing" in (doi_row(runtime, concept("prep-bug")).last_error or "")
    kinds = [e.kind for e in _events(runtime, claim.intent_id)]
    assert kinds[0] == "claimed"
    assert "started" not in kinds  # rolled back with the start
    assert len(kinds) == 2


def test_deliveries_that_keep_dying_end_in_failed(make_runtime) -> None:
    runtime = make_runtime(DOI_MAX_ATTEMPTS="3")
    create(runtime, "dying")
    runner = Runner(runtime, Remotes(runtime.settings))
    # Three deliveries start and die (killed mid-call): each counted its attempt at start.
    for _ in range(3):
        claim = _claim_one(runtime)
        assert runner.start(HANDLER, claim.intent_id, claim.lease_token) is not None
        with runtime.sessions.begin() as session:
            assert outbox.rescue_expired(session, now=utcnow() + timedelta(seconds=60)) == 1
    claim = _claim_one(runtime)
    assert runner.start(HANDLER, claim.intent_id, claim.lease_token) is None
    row = doi_row(runtime, concept("dying"))
    assert row.state == "failed"
    assert "retries exhausted" in row.last_error
    assert "3 earlier deliveries" in row.last_error


def test_an_error_that_is_not_a_remote_answer_is_recorded_and_retried(make_pipeline) -> None:
    # Given the shared rate limiter's Redis is unreachable (a real refused connection),
    # and retries slow and many enough that the test sees them without them running out
    pipeline = make_pipeline(
        DOI_MAX_ATTEMPTS="20", RETRY_BASE_SECONDS="0.2", RETRY_CAP_SECONDS="0.5"
    )
    remotes = pipeline.workers.remotes
    remotes._bucket = RedisTokenBucket("redis://127.0.0.1:1/0", Limit(100, 1))
    create(pipeline.runtime, "no-redis")
    # Then, between two deliveries, the DOI says why it waits and the intent is retried
    # like a transient error
    row = wait_until(lambda: _between_deliveries(pipeline.runtime, concept("no-redis")))
    assert "rate limiter is unreachable: ConnectionError" in row.last_error
    assert row.state == "pending"
    # And, asked before any DataCite call, it leaves nothing in doubt to wait out (each
    # delivery's start marks the DOI in doubt; its record clears the mark)
    assert row.in_doubt_since is None
    # When Redis is back, the DOI converges
    remotes._bucket = None
    wait_until(lambda: doi_state(pipeline.runtime, concept("no-redis")) == "draft")


def test_a_bug_in_recording_is_bounded_by_attempts(make_pipeline, monkeypatch) -> None:
    def broken(*_args, **_kwargs):
        raise KeyError("a bug in the recorder")

    monkeypatch.setattr(doi_outcome, "_confirm", broken)
    pipeline = make_pipeline(DOI_MAX_ATTEMPTS="2")
    create(pipeline.runtime, "buggy")
    wait_until(lambda: doi_state(pipeline.runtime, concept("buggy")) == "failed")
    row = doi_row(pipeline.runtime, concept("buggy"))
    assert "KeyError" in row.last_error
    assert "a bug in the recorder" in row.last_error
    wait_until(lambda: not open_intents(pipeline.runtime))


def test_every_delivery_leaves_a_timeline(make_pipeline) -> None:
    pipeline = make_pipeline()
    pipeline.inject({"method": "PUT", "times": 1, "respond": {"status": 503, "body": "busy"}})
    create(pipeline.runtime, "story")
    wait_until(lambda: doi_state(pipeline.runtime, concept("story")) == "draft")
    wait_until(lambda: not open_intents(pipeline.runtime))
    with pipeline.runtime.sessions() as session:
        intent_ids = session.scalars(select(Intent.id).order_by(Intent.id)).all()
    kinds = [e.kind for i in intent_ids for e in _events(pipeline.runtime, i)]
    # (A claim whose lease ran out before a busy worker started it is claimed again.)
    told = [k for n, k in enumerate(kinds) if not (k == "claimed" and kinds[n - 1 : n] == [k])]
    assert told[:5] == ["claimed", "started", "call", "retry", "claimed"]
    # The 503 may have been applied: the next deliveries wait out the write grace
    # (snoozes), then look before writing again.
    assert "snooze" in kinds
    calls = [e.data for i in intent_ids for e in _events(pipeline.runtime, i) if e.kind == "call"]
    # The look after a 503 (the write may have been applied), then the write again.
    assert [(c["method"], c["status"]) for c in calls] == [("PUT", 503), ("GET", 404), ("PUT", 201)]
    assert all(c["service"] == "datacite" and c["elapsed_ms"] >= 0 for c in calls)
    assert kinds[-1] == "done"


def test_a_token_less_than_a_second_away_is_waited_for_in_the_thread(runtime) -> None:
    # Given a rate limit of one request per 0.6 s, just spent
    remotes = Remotes(runtime.settings)
    remotes._bucket = LocalTokenBucket(Limit(3, 2))
    assert [remotes._bucket.take().wait for _ in range(3)] == [0.0, 0.0, 0.0]
    drained_at = utcnow()
    create(runtime, "waited")
    claim = _claim_one(runtime)
    Runner(runtime, remotes).run(HANDLER, claim.intent_id, claim.lease_token)
    # Then the one delivery waited for its token and sent: done, nothing snoozed
    with runtime.sessions() as session:
        intent = session.get(Intent, claim.intent_id)
        assert (intent.status, intent.attempts) == ("done", 1)
    [call] = [e for e in _events(runtime, claim.intent_id) if e.kind == "call"]
    assert (call.at - drained_at).total_seconds() >= 0.6
    assert "snooze" not in [e.kind for e in _events(runtime, claim.intent_id)]


@pytest.mark.parametrize("wait", [2, 4])
def test_a_local_throttle_snoozes_exactly_until_the_bucket_has_a_token(runtime, wait) -> None:
    # Given a rate limit of one request per `wait` seconds, just spent
    remotes = Remotes(runtime.settings)
    remotes._bucket = LocalTokenBucket(Limit(1, wait))
    assert remotes._bucket.take().wait == 0.0
    drained_at = utcnow()
    create(runtime, "paced")
    claim = _claim_one(runtime)
    Runner(runtime, remotes).run(HANDLER, claim.intent_id, claim.lease_token)
    with runtime.sessions() as session:
        intent = session.get(Intent, claim.intent_id)
        assert intent is not None
        assert (intent.status, intent.attempts) == ("pending", 0)
        due_after_drain = (intent.available_at - drained_at).total_seconds()
    # Then it comes back when the bucket has its next token (`wait` after the drain), not
    # after a growing backoff, and no attempt was spent
    assert wait - 0.05 <= due_after_drain < wait + 1.0


def test_a_call_longer_than_the_lease_keeps_its_lease_by_heartbeat(make_pipeline) -> None:
    # Given a lease of 2 s and a DataCite that takes 5 s to answer
    pipeline = make_pipeline(LEASE_SECONDS="2", DATACITE_READ_TIMEOUT="10")
    pipeline.inject({"method": "PUT", "times": 1, "latency_ms": 5000})
    create(pipeline.runtime, "slow-call")
    wait_until(lambda: doi_state(pipeline.runtime, concept("slow-call")) == "draft", timeout=20)
    wait_until(lambda: not open_intents(pipeline.runtime))
    # Then the delivery kept its lease: never rescued, one write, nothing dropped
    puts = [r for r in pipeline.datacite_requests() if r["method"] == "PUT"]
    assert len(puts) == 1
    with pipeline.runtime.sessions() as session:
        kinds = session.scalars(select(IntentEvent.kind)).all()
    assert kinds.count("started") == 1
    assert "dropped" not in kinds


def test_a_delivery_whose_heartbeat_stalled_never_records_its_result(
    make_pipeline, monkeypatch
) -> None:
    # Given heartbeats that stall (the worker's database connection hangs, say)
    monkeypatch.setattr(Heartbeats, "beat", lambda self, beating: None)
    pipeline = make_pipeline(LEASE_SECONDS="2", DATACITE_READ_TIMEOUT="10")
    pipeline.inject({"method": "PUT", "times": 1, "latency_ms": 4000})
    create(pipeline.runtime, "stalled")
    wait_until(lambda: doi_state(pipeline.runtime, concept("stalled")) == "draft", timeout=20)
    with pipeline.runtime.sessions() as session:
        first = session.scalars(select(Intent.id).order_by(Intent.id)).first()
    wait_until(lambda: "dropped" in [e.kind for e in _events(pipeline.runtime, first)], timeout=20)
    # Then the lease lapsed and was rescued; the late answer was dropped, not recorded:
    # the DOI has exactly one confirmation, from the delivery that held the lease.
    row = doi_row(pipeline.runtime, concept("stalled"))
    assert [t.event for t in row.history] == ["confirm_draft"]
    assert row.history[0].intent_id == first
    events = [e.kind for e in _events(pipeline.runtime, first)]
    assert events.count("started") >= 2  # the stalled delivery, then the one after the rescue


def _hold_doi_row(runtime, doi: str):
    """A transaction of the test's own holding the DOI's row lock until it is closed."""
    connection = runtime.engine.connect()
    connection.execute(text("SELECT id FROM dois WHERE doi = :doi FOR UPDATE"), {"doi": doi})
    return connection


def _intent_status(runtime, intent_id: int) -> str:
    with runtime.sessions() as session:
        return session.get(Intent, intent_id).status


def test_a_background_recorder_frees_the_thread_as_soon_as_datacite_answered(runtime) -> None:
    # Given a runner that records in the background, and the DOI's row held by someone
    # else once the delivery has started, so its record must wait
    create(runtime, "background")
    claim = _claim_one(runtime)
    runner = Runner(runtime, Remotes(runtime.settings), record_in_background=True)
    delivery = runner.start(HANDLER, claim.intent_id, claim.lease_token)
    assert delivery is not None
    holder = _hold_doi_row(runtime, concept("background"))
    try:
        # When the delivery calls out and hands its outcome over
        runner.call(delivery)
        runner.recorder.submit(delivery)
        # Then the thread is free although nothing is recorded yet: the DOI waits
        assert not runner.drain(0.5)
        assert doi_state(runtime, concept("background")) == "pending"
        assert _intent_status(runtime, claim.intent_id) == "enqueued"
    finally:
        holder.close()
    # And once the row is free the outcome is recorded, exactly as inline
    assert runner.drain(10)
    assert doi_state(runtime, concept("background")) == "draft"
    assert _intent_status(runtime, claim.intent_id) == "done"
    kinds = [e.kind for e in _events(runtime, claim.intent_id)]
    assert kinds[-2:] == ["call", "done"]


def test_a_run_returns_before_its_record_when_recording_in_background(runtime) -> None:
    create(runtime, "returns-early")
    claim = _claim_one(runtime)
    runner = Runner(runtime, Remotes(runtime.settings), record_in_background=True)
    holder = None
    original = runner.call

    def call_then_hold(delivery):
        # The row is taken after the start committed and before the record begins.
        nonlocal holder
        holder = _hold_doi_row(runtime, concept("returns-early"))
        return original(delivery)

    runner.call = call_then_hold  # type: ignore[method-assign]
    try:
        # When the whole delivery runs while its record cannot proceed
        runner.run(HANDLER, claim.intent_id, claim.lease_token)
        # Then `run` has returned (the Dramatiq message is acked) with the record pending
        assert _intent_status(runtime, claim.intent_id) == "enqueued"
    finally:
        assert holder is not None
        holder.close()
    assert runner.drain(10)
    assert _intent_status(runtime, claim.intent_id) == "done"


def test_the_lease_is_kept_while_the_outcome_waits_for_the_recorder(make_runtime) -> None:
    # Given a lease of 3 s (a beat every second) and a recorder busy for 7 s
    runtime = make_runtime(LEASE_SECONDS="3")
    create(runtime, "kept")
    claim = _claim_one(runtime, lease=3)
    runner = Runner(runtime, Remotes(runtime.settings), record_in_background=True)
    busy = threading.Event()

    def finish_when_free(delivery) -> None:
        busy.wait(20)
        runner.finish(delivery)

    runner.recorder = BackgroundRecorder(finish_when_free)
    delivery = runner.start(HANDLER, claim.intent_id, claim.lease_token)
    assert delivery is not None
    runner.call(delivery)
    runner.recorder.submit(delivery)
    time.sleep(7)
    # Then after two leases the relay's rescue finds nothing expired to take back
    with runtime.sessions.begin() as session:
        assert outbox.rescue_expired(session) == 0
    # And the delivery records its own result: nothing dropped, no second start
    busy.set()
    assert runner.drain(10)
    kinds = [e.kind for e in _events(runtime, claim.intent_id)]
    assert (kinds.count("started"), "dropped" in kinds, kinds[-1]) == (1, False, "done")
