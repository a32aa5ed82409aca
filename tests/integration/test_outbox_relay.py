"""The outbox and relay on real Postgres: claims, leases, fencing, coalescing, NOTIFY."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from app import outbox
from app.db import utcnow
from app.models import Dataset, Doi, Intent
from app.schema import check
from app.states.doi import apply
from tests.fixtures.pipeline import wait_until
from workers.relay import Relay

TOPIC = outbox.SYNC_DOI


def _add(runtime, key: str) -> int:
    with runtime.sessions.begin() as session:
        return outbox.add(session, TOPIC, key=key, payload={"doi_id": 0}).id


def _claim(runtime, limit: int = 100, lease: float = 30) -> list[outbox.Claim]:
    with runtime.sessions.begin() as session:
        return outbox.claim_due(session, limit=limit, lease_seconds=lease)


def test_migrations_match_the_models(database_url: str) -> None:
    check(database_url)


def test_intents_waiting_for_the_same_key_are_coalesced(runtime) -> None:
    assert _add(runtime, "doi:1") == _add(runtime, "doi:1")
    assert _add(runtime, "doi:2") != _add(runtime, "doi:1")


def test_a_new_intent_waits_while_one_for_its_key_is_in_flight(runtime) -> None:
    first = _add(runtime, "doi:1")
    assert [c.intent_id for c in _claim(runtime)] == [first]
    second = _add(runtime, "doi:1")
    assert second != first
    assert _claim(runtime) == []
    with runtime.sessions.begin() as session:
        intent = outbox.lock_leased(session, first, session.get(Intent, first).lease_token)
        outbox.complete(intent)
    assert [c.intent_id for c in _claim(runtime)] == [second]


def test_two_concurrent_claimers_never_take_the_same_intent(runtime) -> None:
    ids = {_add(runtime, f"doi:{n}") for n in range(40)}
    claimed: list[list[int]] = [[], []]
    barrier = threading.Barrier(2)

    def claimer(slot: int) -> None:
        with runtime.sessions.begin() as session:
            barrier.wait()
            claims = outbox.claim_due(session, limit=25, lease_seconds=30)
            time.sleep(0.3)  # hold the row locks while the other claims
            claimed[slot] = [c.intent_id for c in claims]

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not set(claimed[0]) & set(claimed[1])
    assert set(claimed[0]) | set(claimed[1]) == ids


def test_expired_leases_are_rescued_and_the_old_delivery_is_fenced_out(runtime) -> None:
    intent_id = _add(runtime, "doi:1")
    [old] = _claim(runtime, lease=0.05)
    time.sleep(0.1)
    with runtime.sessions.begin() as session:
        assert outbox.rescue_expired(session) == 1
    [new] = _claim(runtime)
    assert new.intent_id == intent_id
    assert new.lease_token != old.lease_token
    with runtime.sessions.begin() as session:
        assert outbox.lock_leased(session, intent_id, old.lease_token) is None
        assert outbox.lock_leased(session, intent_id, new.lease_token) is not None


def test_intents_not_yet_due_are_not_claimed(runtime) -> None:
    intent_id = _add(runtime, "doi:1")
    with runtime.sessions.begin() as session:
        session.get(Intent, intent_id).available_at = utcnow() + timedelta(seconds=60)
    assert _claim(runtime) == []


def test_relay_enqueues_with_the_intent_id_as_message_id(runtime) -> None:
    broker = StubBroker()
    broker.declare_queue("doi")
    intent_id = _add(runtime, "doi:1")
    assert Relay(runtime, broker).run_once() == 1
    message = broker.queues["doi"].get_nowait()
    assert b'"message_id":"%d"' % intent_id in message
    with runtime.sessions() as session:
        assert session.get(Intent, intent_id).status == "enqueued"


def test_relay_wakes_on_notify_before_its_poll_interval(make_runtime) -> None:
    runtime = make_runtime(RELAY_POLL_SECONDS="30")
    broker = StubBroker()
    broker.declare_queue("doi")
    stop = threading.Event()
    thread = threading.Thread(target=Relay(runtime, broker).run_forever, args=(stop,), daemon=True)
    thread.start()
    time.sleep(0.5)  # let it reach its LISTEN wait
    started = time.monotonic()
    _add(runtime, "doi:1")
    wait_until(lambda: broker.queues["doi"].qsize() == 1, timeout=5)
    elapsed = time.monotonic() - started
    stop.set()
    thread.join(timeout=35)
    assert elapsed < 5


def test_two_sessions_racing_the_same_transition_cannot_both_win(runtime) -> None:
    with runtime.sessions.begin() as session:
        session.add(Dataset(id="race", draft_metadata={}))
        session.flush()
        session.add(Doi(doi="10.80507/test.race", kind="concept", dataset_id="race"))
    first, second = runtime.sessions(), runtime.sessions()
    doi_a = first.scalars(select(Doi)).one()
    doi_b = second.scalars(select(Doi)).one()
    apply(doi_a, "confirm_draft", publishing_allowed=True)
    apply(doi_b, "fail", publishing_allowed=True)
    first.commit()
    with pytest.raises(StaleDataError):
        second.commit()
    second.rollback()
    with runtime.sessions() as session:
        doi = session.scalars(select(Doi)).one()
        assert doi.state == "draft"
        assert [h.event for h in doi.history] == ["confirm_draft"]
    first.close()
    second.close()
