"""The relay on real Postgres: what it enqueues, how fast it wakes, how much it holds."""

from __future__ import annotations

import threading
import time

from click.testing import CliRunner
from dramatiq.brokers.stub import StubBroker

from app import outbox
from app.cli import main
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
