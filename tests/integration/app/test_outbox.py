"""The outbox on real Postgres and on the embedded SQLite: claims, leases, fencing, coalescing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app import claiming, outbox
from app.config import load_settings
from app.db import utcnow
from app.models import Intent, IntentEvent
from app.runtime import Runtime
from app.schema import upgrade
from app.topics import SYNC_DOI


@pytest.fixture(params=["postgres", "sqlite"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    """A Runtime on the test Postgres database, or on a fresh SQLite file (`doiflow dev`)."""
    if request.param == "postgres":
        url = request.getfixturevalue("clean_database")
    else:
        url = f"sqlite:///{tmp_path / 'doiflow.db'}"
        upgrade(url)
    runtime = Runtime.from_settings(load_settings({"DATABASE_URL": url}))
    yield runtime
    runtime.close()


def _add(runtime: Runtime, key: str) -> int:
    with runtime.sessions.begin() as session:
        return outbox.add(session, SYNC_DOI, key=key, payload={"doi_id": 0}).id


def _claim(runtime: Runtime, limit: int = 100, lease: float = 30) -> list[outbox.Claim]:
    with runtime.sessions.begin() as session:
        return claiming.claim_due(session, limit=limit, lease_seconds=lease)


def _intent(runtime: Runtime, intent_id: int) -> Intent:
    with runtime.sessions() as session:
        intent = session.get(Intent, intent_id)
        assert intent is not None
        return intent


def test_intents_waiting_for_the_same_key_are_coalesced(db: Runtime) -> None:
    assert _add(db, "doi:1") == _add(db, "doi:1")
    assert _add(db, "doi:2") != _add(db, "doi:1")


def test_a_new_intent_waits_while_one_for_its_key_is_in_flight(db: Runtime) -> None:
    first = _add(db, "doi:1")
    [claim] = _claim(db)
    assert claim.intent_id == first
    second = _add(db, "doi:1")
    assert second != first
    assert _claim(db) == []
    with db.sessions.begin() as session:
        outbox.complete(session, first, claim.lease_token)
    assert [c.intent_id for c in _claim(db)] == [second]


def test_two_concurrent_claimers_never_take_the_same_intent(runtime: Runtime) -> None:
    ids = {_add(runtime, f"doi:{n}") for n in range(40)}
    claimed: list[list[int]] = [[], []]
    barrier = threading.Barrier(2)

    def claimer(slot: int) -> None:
        with runtime.sessions.begin() as session:
            barrier.wait()
            claims = claiming.claim_due(session, limit=25, lease_seconds=30)
            time.sleep(0.3)  # hold the row locks while the other claims
            claimed[slot] = [c.intent_id for c in claims]

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not set(claimed[0]) & set(claimed[1])
    assert set(claimed[0]) | set(claimed[1]) == ids


def test_a_rescue_of_a_delivery_that_never_started_uses_no_attempt(db: Runtime) -> None:
    # Given an intent claimed, then its lease running out with no worker ever starting it
    intent_id = _add(db, "doi:1")
    for _ in range(5):
        assert len(_claim(db, lease=0.01)) == 1
        with db.sessions.begin() as session:
            assert outbox.rescue_expired(session, now=utcnow() + timedelta(seconds=1)) == 1
    # Then the intent is pending again with every attempt still unused
    intent = _intent(db, intent_id)
    assert (intent.status, intent.attempts, intent.lease_token) == ("pending", 0, None)


def test_starting_a_delivery_counts_its_attempt_and_renews_the_lease(db: Runtime) -> None:
    intent_id = _add(db, "doi:1")
    [claim] = _claim(db, lease=0.5)
    with db.sessions.begin() as session:
        started = outbox.start(session, intent_id, claim.lease_token, lease_seconds=60)
        assert started is not None
        assert started.attempts == 1
        # A token of the delivery's own: the message's no longer starts anything.
        assert started.lease_token not in (None, claim.lease_token)
    with db.sessions.begin() as session:
        assert outbox.start(session, intent_id, claim.lease_token, lease_seconds=60) is None
    with db.sessions.begin() as session:
        # Renewed: the relay's rescue a second later finds nothing expired.
        assert outbox.rescue_expired(session, now=utcnow() + timedelta(seconds=1)) == 0
    with db.sessions.begin() as session:
        assert outbox.start(session, intent_id, "not-the-lease", lease_seconds=60) is None


@pytest.mark.parametrize("step", ["complete", "fail", "retry_later", "renew_lease"])
def test_every_status_change_of_a_delivery_is_fenced_by_its_lease(db: Runtime, step: str) -> None:
    intent_id = _add(db, "doi:1")
    [old] = _claim(db, lease=0.01)
    with db.sessions.begin() as session:
        outbox.rescue_expired(session, now=utcnow() + timedelta(seconds=1))
    [new] = _claim(db)
    assert new.lease_token != old.lease_token
    calls = {
        "complete": lambda s: outbox.complete(s, intent_id, old.lease_token),
        "fail": lambda s: outbox.fail(s, intent_id, old.lease_token, "late"),
        "retry_later": lambda s: outbox.retry_later(
            s, intent_id, old.lease_token, delay_seconds=1, error="late"
        ),
        "renew_lease": lambda s: outbox.renew_lease(s, intent_id, old.lease_token, 60),
    }
    with db.sessions.begin() as session, pytest.raises(outbox.LeaseLostError):
        calls[step](session)
    # Loud, and nothing changed: the newer delivery still owns the intent.
    intent = _intent(db, intent_id)
    assert (intent.status, intent.lease_token) == ("enqueued", new.lease_token)


def test_a_rescue_racing_a_worker_never_lets_done_overwrite_a_re_leased_intent(
    db: Runtime,
) -> None:
    # Given a worker that has checked its lease and is about to complete the intent
    intent_id = _add(db, "doi:1")
    [claim] = _claim(db, lease=0.01)
    checked, rescued_committed = threading.Event(), threading.Event()
    rescued: list[int] = []
    outcome: list[str] = []

    def worker() -> None:
        try:
            with db.sessions.begin() as session:
                assert outbox.lock_leased(session, intent_id, claim.lease_token) is not None
                checked.set()
                # A relay that can commit in this window breaks fencing; with it, the
                # relay waits for us (row lock on Postgres, BEGIN IMMEDIATE on SQLite).
                rescued_committed.wait(timeout=1.0)
                outbox.complete(session, intent_id, claim.lease_token)
            outcome.append("completed")
        except outbox.LeaseLostError:
            outcome.append("lease lost")

    def relay() -> None:
        checked.wait(timeout=5)
        with db.sessions.begin() as session:
            rescued.append(outbox.rescue_expired(session, now=utcnow() + timedelta(seconds=5)))
        rescued_committed.set()

    threads = [threading.Thread(target=worker), threading.Thread(target=relay)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=40)
    intent = _intent(db, intent_id)
    # Then exactly one of them won, and the row says which.
    if outcome == ["completed"]:
        assert (rescued, intent.status) == ([0], "done")
    else:
        assert (outcome, rescued, intent.status) == (["lease lost"], [1], "pending")


def test_a_snooze_gives_its_attempt_back_and_never_below_zero(db: Runtime) -> None:
    intent_id = _add(db, "doi:1")
    [claim] = _claim(db)
    with db.sessions.begin() as session:
        outbox.retry_later(
            session, intent_id, claim.lease_token, delay_seconds=0, error="429", attempts_delta=-1
        )
    intent = _intent(db, intent_id)
    assert (intent.status, intent.attempts, intent.last_error) == ("pending", 0, "429")


def test_intents_not_yet_due_are_not_claimed(db: Runtime) -> None:
    intent_id = _add(db, "doi:1")
    with db.sessions.begin() as session:
        intent = session.get(Intent, intent_id)
        assert intent is not None
        intent.available_at = utcnow() + timedelta(seconds=60)
    assert _claim(db) == []


def test_a_redrive_supersedes_failed_intents_and_an_operator_can_discard(db: Runtime) -> None:
    failed = _add(db, "doi:1")
    [claim] = _claim(db)
    with db.sessions.begin() as session:
        outbox.fail(session, failed, claim.lease_token, "DataCite said no")
    in_flight = _add(db, "doi:3")
    assert [c.intent_id for c in _claim(db)] == [in_flight]
    waiting = _add(db, "doi:2")
    with db.sessions.begin() as session:
        assert outbox.supersede_failed(session, "doi:1") == 1
        assert outbox.discard(session, waiting, reason="not wanted (operator ann)")
        # An intent in flight is never discarded under its worker.
        assert not outbox.discard(session, in_flight, reason="too late")
    assert _intent(db, in_flight).status == "enqueued"
    assert _intent(db, failed).status == "superseded"
    assert _intent(db, waiting).status == "discarded"
    with db.sessions() as session:
        events = session.scalars(select(IntentEvent).where(IntentEvent.intent_id == waiting))
        assert [(e.kind, e.data["reason"]) for e in events] == [
            ("discarded", "not wanted (operator ann)")
        ]


def test_events_recorded_together_keep_their_order_and_their_times(db: Runtime) -> None:
    intent_id = _add(db, "doi:1")
    made_at = utcnow() - timedelta(seconds=5)
    calls = [{"at": made_at, "status": 200, "n": 1}, {"status": 503, "n": 2}]
    with db.sessions.begin() as session:
        outbox.record_event(session, intent_id, "started")  # added, not yet flushed
        outbox.record_events(session, intent_id, [("call", c) for c in calls] + [("done", {})])
        outbox.record_events(session, intent_id, [])
    with db.sessions() as session:
        query = select(IntentEvent).where(IntentEvent.intent_id == intent_id)
        events = list(session.scalars(query.order_by(IntentEvent.id)))
    assert [(e.kind, e.data.get("n")) for e in events] == [
        ("started", None),
        ("call", 1),
        ("call", 2),
        ("done", None),
    ]
    assert events[1].at == made_at  # when the call was made, not when it was recorded
    assert events[2].at >= made_at
    assert "at" not in events[1].data


def _events(runtime: Runtime, intent_id: int) -> list[IntentEvent]:
    with runtime.sessions() as session:
        query = select(IntentEvent).where(IntentEvent.intent_id == intent_id)
        return list(session.scalars(query.order_by(IntentEvent.id)))


def test_a_start_records_its_started_event_with_the_attempt(db: Runtime) -> None:
    intent_id = _add(db, "doi:1")
    [claim] = _claim(db)
    with db.sessions.begin() as session:
        assert outbox.start(session, intent_id, claim.lease_token, lease_seconds=60) is not None
    with db.sessions.begin() as session:
        assert outbox.start(session, intent_id, claim.lease_token, lease_seconds=60) is None
    started = [e for e in _events(db, intent_id) if e.kind == "started"]
    assert [e.data for e in started] == [{"attempt": 1}]  # the refused start left none


def test_a_completion_records_its_events_after_those_added_before(db: Runtime) -> None:
    intent_id = _add(db, "doi:1")
    [claim] = _claim(db)
    made_at = utcnow() - timedelta(seconds=5)
    with db.sessions.begin() as session:
        intent = outbox.start(session, intent_id, claim.lease_token, lease_seconds=60)
        assert intent is not None
        assert intent.lease_token is not None
        outbox.record_event(session, intent_id, "note", n=0)  # added, not yet flushed
        calls = [("call", {"at": made_at, "n": 1}), ("call", {"n": 2}), ("done", {})]
        outbox.complete(session, intent_id, intent.lease_token, events=calls)
    events = [e for e in _events(db, intent_id) if e.kind not in ("claimed", "started")]
    assert [(e.kind, e.data.get("n")) for e in events] == [
        ("note", 0),
        ("call", 1),
        ("call", 2),
        ("done", None),
    ]
    assert events[1].at == made_at  # when the call was made, not when it was recorded
    assert "at" not in events[1].data
    done = _intent(db, intent_id)
    assert (done.status, done.lease_token, done.lease_expires_at) == ("done", None, None)


def test_a_lost_lease_records_no_completion_events(db: Runtime) -> None:
    intent_id = _add(db, "doi:1")
    _claim(db)
    with db.sessions.begin() as session, pytest.raises(outbox.LeaseLostError):
        outbox.complete(session, intent_id, "not-the-lease", events=[("done", {})])
    assert [e.kind for e in _events(db, intent_id)] == ["claimed"]


def test_a_completion_wakes_the_relay_at_once_for_a_successor_on_its_key(
    runtime: Runtime,
) -> None:
    lonely, followed = _add(runtime, "doi:1"), _add(runtime, "doi:2")
    tokens = {c.intent_id: c.lease_token for c in _claim(runtime)}
    successor = _add(runtime, "doi:2")  # waits behind the one in flight: not claimable
    assert successor != followed
    listener = runtime.engine.raw_connection()
    try:
        conn = listener.driver_connection
        conn.autocommit = True
        conn.execute(f"LISTEN {outbox.NOTIFY_CHANNEL}")

        def payloads() -> list[str]:
            return [n.payload for n in conn.notifies(timeout=0.3, stop_after=1)]

        with runtime.sessions.begin() as session:
            outbox.complete(session, lonely, tokens[lonely], events=[("done", {})])
        # Nothing seen waiting for doi:1: room freed, the relay claims soon, not now.
        assert payloads() == [outbox.FREED]
        with runtime.sessions.begin() as session:
            outbox.complete(session, followed, tokens[followed], events=[("done", {})])
        assert payloads() == [""]  # claim now
        assert payloads() == []
    finally:
        listener.close()
    assert [c.intent_id for c in _claim(runtime)] == [successor]


def test_a_failure_wakes_the_relay_for_a_successor_on_its_key(runtime: Runtime) -> None:
    first = _add(runtime, "doi:1")
    [claim] = _claim(runtime)
    successor = _add(runtime, "doi:1")  # waits behind the one in flight
    listener = runtime.engine.raw_connection()
    try:
        conn = listener.driver_connection
        conn.autocommit = True
        conn.execute(f"LISTEN {outbox.NOTIFY_CHANNEL}")
        with runtime.sessions.begin() as session:
            outbox.fail(session, first, claim.lease_token, "refused")
        assert [n.payload for n in conn.notifies(timeout=0.3, stop_after=1)] == [""]
    finally:
        listener.close()
    assert [c.intent_id for c in _claim(runtime)] == [successor]
