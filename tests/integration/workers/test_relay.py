"""The relay on real Postgres: what it enqueues, how fast it wakes, how much it holds."""

from __future__ import annotations

import threading
import time

import dramatiq
import pytest
import redis
from click.testing import CliRunner
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import select, text

from app import claiming, outbox, watchdog
from app.cli import main
from app.db import utcnow
from app.models import Intent
from app.topics import SYNC_DOI
from tests.fixtures.pipeline import wait_until
from tests.support.lifecycle import create
from workers.relay import Relay


def _broker() -> StubBroker:
    broker = StubBroker()
    broker.declare_queue("doi")
    return broker


def _add(runtime, key: str) -> int:
    with runtime.sessions.begin() as session:
        return outbox.add(session, SYNC_DOI, key=key, payload={"doi_id": 0}).id


def test_relay_enqueues_with_the_intent_id_as_message_id(runtime) -> None:
    broker = _broker()
    intent_id = _add(runtime, "doi:1")
    assert Relay(runtime, broker).run_once() == 1
    message = broker.queues["doi"].get_nowait()
    assert b'"message_id":"%d"' % intent_id in message
    with runtime.sessions() as session:
        assert session.get(Intent, intent_id).status == "enqueued"


def test_relay_wakes_on_notify_before_its_poll_interval(make_runtime) -> None:
    runtime = make_runtime(RELAY_POLL_SECONDS="30")
    broker = _broker()
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


def test_a_relay_with_nothing_pending_wakes_when_a_retried_intent_is_due(make_runtime) -> None:
    # Given a relay waiting out a 30 s poll with nothing pending (it has just claimed all)
    runtime = make_runtime(RELAY_POLL_SECONDS="30", LEASE_SECONDS="60")
    broker = _broker()
    intent_id = _add(runtime, "doi:1")
    relay = Relay(runtime, broker)
    assert relay.run_once() == 1
    broker.queues["doi"].get_nowait()
    lease_token = _lease_token(runtime, intent_id)
    stop = threading.Event()
    thread = threading.Thread(target=relay.run_forever, args=(stop,), daemon=True)
    thread.start()
    wait_until(lambda: relay.next_due == 30, timeout=5)  # its pass found nothing due
    time.sleep(0.3)  # and it sleeps on LISTEN
    # When a worker sends the intent back to wait 1 s (a snooze, a retry)
    with runtime.sessions.begin() as session:
        due = outbox.retry_later(session, intent_id, lease_token, delay_seconds=1, error="429")
    # Then the relay claims it when it is due, not when its poll ends
    wait_until(lambda: broker.queues["doi"].qsize() == 1, timeout=10)
    claimed_late_by = (utcnow() - due).total_seconds()
    stop.set()
    thread.join(timeout=35)
    assert 0 <= claimed_late_by < 5


def _lease_token(runtime, intent_id: int) -> str:
    with runtime.sessions() as session:
        return session.get(Intent, intent_id).lease_token


def test_relay_claims_no_more_than_max_in_flight(make_runtime) -> None:
    runtime = make_runtime(RELAY_MAX_IN_FLIGHT="3")
    for n in range(5):
        create(runtime, f"cap{n}")
    relay = Relay(runtime, _broker())
    assert relay.run_once() == 3
    assert relay.run_once() == 0


def test_relay_refuses_to_start_without_redis_url(clean_database: str, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", clean_database)
    monkeypatch.delenv("REDIS_URL", raising=False)
    result = CliRunner().invoke(main, ["relay"])
    assert result.exit_code == 2
    assert "REDIS_URL is required" in result.output


def test_a_pipelined_batch_is_read_by_a_stock_dramatiq_worker(runtime, redis_url) -> None:
    # Given a plain RedisBroker and a plain actor on the doi queue (no doiflow code)
    broker = RedisBroker(url=redis_url)
    seen: list[tuple[int, str]] = []

    @dramatiq.actor(actor_name="sync_doi", queue_name="doi", broker=broker)
    def sync_doi(intent_id: int, lease_token: str) -> None:
        seen.append((intent_id, lease_token))

    ids = [_add(runtime, f"doi:{n}") for n in range(25)]
    # When the relay sends one batch through one pipeline
    assert Relay(runtime, broker).run_once() == 25
    worker = dramatiq.Worker(broker, worker_timeout=100)
    worker.start()
    try:
        wait_until(lambda: len(seen) == 25, timeout=10)
    finally:
        worker.stop()
        broker.close()
    # Then a stock worker consumed every message, with the leases the relay recorded
    with runtime.sessions() as session:
        tokens = {i.id: i.lease_token for i in session.scalars(select(Intent))}
    assert sorted(seen) == sorted((i, tokens[i]) for i in ids)


def _queued_message_ids(broker: RedisBroker) -> list[int]:
    """The message ids in the doi queue's list, in order (one entry per enqueue)."""
    redis_ids = broker.client.lrange("dramatiq:doi", 0, -1)
    stored = broker.client.hmget("dramatiq:doi.msgs", redis_ids)
    return [int(dramatiq.Message.decode(m).message_id) for m in stored]


def test_a_redis_without_the_dispatch_script_gets_each_message_once(runtime, redis_url) -> None:
    # Given a Redis that does not know the script's sha (as after a restart or SCRIPT FLUSH)
    broker = RedisBroker(url=redis_url)
    broker.declare_queue("doi")
    broker.scripts["dispatch"].sha = "0" * 40
    ids = [_add(runtime, f"doi:{n}") for n in range(5)]
    # When the relay sends its batch, the NOSCRIPT answers are sent again once loaded
    assert Relay(runtime, broker).run_once() == 5
    # Then every message is queued exactly once
    assert sorted(_queued_message_ids(broker)) == ids
    broker.close()


class _SeesEnqueues(dramatiq.Middleware):
    def __init__(self) -> None:
        self.before: list[str] = []
        self.after: list[str] = []

    def before_enqueue(self, broker, message, delay) -> None:
        self.before.append(message.message_id)

    def after_enqueue(self, broker, message, delay) -> None:
        self.after.append(message.options["redis_message_id"])


def test_middleware_that_hooks_enqueues_sees_every_message_of_a_batch(runtime, redis_url) -> None:
    broker = RedisBroker(url=redis_url)
    broker.declare_queue("doi")
    hooks = _SeesEnqueues()
    broker.add_middleware(hooks)
    ids = [_add(runtime, f"doi:{n}") for n in range(3)]
    assert Relay(runtime, broker).run_once() == 3
    assert hooks.before == [str(i) for i in ids]
    # after_enqueue saw the very messages stored (their Redis ids), as RedisBroker.enqueue does
    assert sorted(hooks.after) == sorted(
        m.decode() for m in broker.client.lrange("dramatiq:doi", 0, -1)
    )
    broker.close()


def test_claims_go_back_to_pending_at_once_when_redis_refuses_the_batch(runtime) -> None:
    broker = RedisBroker(url="redis://127.0.0.1:1/0")  # nothing listens there
    ids = [_add(runtime, f"doi:{n}") for n in range(3)]
    with pytest.raises(redis.ConnectionError):
        Relay(runtime, broker).run_once()
    with runtime.sessions() as session:
        intents = session.scalars(select(Intent).where(Intent.id.in_(ids))).all()
        # Not after a lease: now, untouched attempts, claimable by the next pass.
        assert {(i.status, i.attempts, i.lease_token) for i in intents} == {("pending", 0, None)}


def test_the_claim_plan_does_not_depend_on_fresh_statistics(runtime) -> None:
    # Given 10,000 intents in flight that the statistics know nothing about
    with runtime.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO outbox (created_at, updated_at, topic, queue, key, payload, status,"
                " attempts, available_at, lease_token)"
                " SELECT now(), now(), 'sync_doi', 'doi', 'k' || n, '{}', 'enqueued', 0, now(), 't'"
                " FROM generate_series(1, 10000) AS n"
            )
        )
    for n in range(50):
        _add(runtime, f"due:{n}")
    # Then the per-key checks stay index probes per candidate, never a join of all rows
    with runtime.engine.connect() as conn:
        conn.execute(claiming.STEADY_PLAN)
        plan = (
            conn.execute(
                text("EXPLAIN " + str(claiming.CLAIM.text)),
                {"now": utcnow(), "limit": 100, "expires": utcnow(), "expires_text": "x"},
            )
            .scalars()
            .all()
        )
    shown = "\n".join(plan)
    assert "Index Scan using ix_outbox_due" in shown, shown  # in order, stopping at LIMIT
    assert "ix_outbox_enqueued_key" in shown, shown  # each probe a key lookup
    assert "ix_outbox_pending_key" in shown, shown
    for bad in ("Anti Join", "Materialize", "Bitmap", "Seq Scan on outbox"):
        assert bad not in shown, shown


def test_a_relay_records_that_it_is_alive(runtime) -> None:
    relay = Relay(runtime, _broker())
    relay.run_once()
    with runtime.sessions() as session:
        assert watchdog.seconds_since(session, "relay") is not None


def test_a_completion_that_saw_no_successor_still_gets_it_claimed_soon(make_runtime) -> None:
    # Given a relay waiting out a 30 s poll, and an intent that committed behind one in
    # flight after that one's completion looked (so the completion said only FREED)
    runtime = make_runtime(RELAY_POLL_SECONDS="30")
    broker = _broker()
    first = _add(runtime, "doi:1")
    relay = Relay(runtime, broker)
    assert relay.run_once() == 1
    broker.queues["doi"].get_nowait()
    stop = threading.Event()
    thread = threading.Thread(target=relay.run_forever, args=(stop,), daemon=True)
    thread.start()
    successor = _add(runtime, "doi:1")  # its NOTIFY finds doi:1 in flight: not claimed
    wait_until(lambda: relay.next_due == 30, timeout=5)
    time.sleep(0.3)
    with runtime.sessions.begin() as session:
        # The completion as it races that successor: its snapshot does not see it.
        session.execute(text("UPDATE outbox SET status = 'done' WHERE id = :id"), {"id": first})
        session.execute(text(f"NOTIFY {outbox.NOTIFY_CHANNEL}, '{outbox.FREED}'"))
    started = time.monotonic()
    # Then the relay claims the successor at once, not after its 30 s poll
    wait_until(lambda: broker.queues["doi"].qsize() == 1, timeout=5)
    elapsed = time.monotonic() - started
    stop.set()
    thread.join(timeout=35)
    assert b'"message_id":"%d"' % successor in broker.queues["doi"].get_nowait()
    assert elapsed < 2


def test_completions_in_a_stream_share_the_relays_claim_passes(make_runtime) -> None:
    runtime = make_runtime(RELAY_POLL_SECONDS="30")
    relay = Relay(runtime, _broker())
    stop = threading.Event()
    thread = threading.Thread(target=relay.run_forever, args=(stop,), daemon=True)
    thread.start()
    time.sleep(0.5)
    before = relay._passes
    for _ in range(40):  # 40 completions in about 0.4 s, each saying FREED
        with runtime.sessions.begin() as session:
            session.execute(text(f"NOTIFY {outbox.NOTIFY_CHANNEL}, '{outbox.FREED}'"))
        time.sleep(0.01)
    time.sleep(0.2)
    passes = relay._passes - before
    stop.set()
    thread.join(timeout=35)
    # One pass per FREED_PASS_SECONDS at most (0.05 s: about 12 in 0.6 s), never 40.
    assert 1 <= passes <= 16
