"""The archive's webhook: a real HTTP receiver that is down first, then gets every event."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from app.models import Intent
from tests.fixtures.pipeline import wait_until
from tests.support.lifecycle import create, open_intents, publish

SECRET = "webhook-secret-do-not-log"


class Receiver:
    """An archive's endpoint on 127.0.0.1: answers 503 while `down`, else 204."""

    def __init__(self) -> None:
        self.down = False
        self.answers: list[tuple[int, dict[str, str]]] = []  # given first, one per request
        self.refused = 0
        self.received: list[tuple[dict, str, bytes]] = []  # (body, signature header, raw)
        self.lock = threading.Lock()
        receiver = self

        class Handle(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    if receiver.answers:
                        status, headers = receiver.answers.pop(0)
                        receiver.refused += 1
                        self.send_response(status)
                        for name, value in headers.items():
                            self.send_header(name, value)
                        self.end_headers()
                        return
                    if receiver.down:
                        receiver.refused += 1
                        self.send_response(503)
                        self.end_headers()
                        return
                    signature = self.headers.get("X-Doiflow-Signature", "")
                    receiver.received.append((json.loads(raw), signature, raw))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handle)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/doiflow"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def ids(self) -> list[str]:
        with self.lock:
            return [body["id"] for body, _, _ in self.received]


@pytest.fixture
def receiver():
    server = Receiver()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def _events_written(runtime) -> dict[str, list[str]]:
    """Event ids per dataset, in the order they were written."""
    with runtime.sessions() as session:
        rows = session.scalars(
            select(Intent).where(Intent.topic == "archive_webhook").order_by(Intent.id)
        )
        by_dataset: dict[str, list[str]] = {}
        for row in rows:
            event = row.payload["event"]
            by_dataset.setdefault(event["dataset"], []).append(event["id"])
        return by_dataset


def test_an_archive_down_for_a_while_gets_every_event_afterwards_signed_in_order(
    make_pipeline, receiver, caplog
) -> None:
    # Given an archive whose webhook refuses everything for a while (a minute in
    # production; here until doiflow has retried a dozen times, with the tests' short
    # backoff and enough tries)
    caplog.set_level(logging.INFO)
    receiver.down = True
    pipeline = make_pipeline(
        ARCHIVE_WEBHOOK_URL=receiver.url,
        ARCHIVE_WEBHOOK_SECRET=SECRET,
        ARCHIVE_WEBHOOK_MAX_ATTEMPTS="1000",
    )

    # When two datasets are created and published twice each while it is down
    for name in ("alpha", "beta"):
        create(pipeline.runtime, name)
    for version in ("v1", "v2"):
        for name in ("alpha", "beta"):
            publish(pipeline.runtime, name, version)
    wait_until(lambda: receiver.refused >= 12, timeout=60)
    receiver.down = False

    # Then, once it is back, it has every event written, each signed with the secret
    wait_until(lambda: not open_intents(pipeline.runtime), timeout=60)
    written = _events_written(pipeline.runtime)
    every = [event_id for ids in written.values() for event_id in ids]
    assert set(receiver.ids()) == set(every)
    assert receiver.refused >= 12
    for _body, signature, raw in receiver.received:
        expected = hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(signature, f"sha256={expected}")

    # And in order per dataset: first arrivals follow the order they were written
    for dataset, ids in written.items():
        arrived = [body["id"] for body, _, _ in receiver.received if body["dataset"] == dataset]
        first_arrivals = list(dict.fromkeys(arrived))
        assert first_arrivals == ids, dataset

    # The story an archive sees for one dataset: its DOIs reaching their targets, the jobs
    kinds = [body["type"] for body, _, _ in receiver.received if body["dataset"] == "alpha"]
    assert kinds.count("job.finished") == 2
    assert "doi.reached_target" in kinds
    assert kinds.index("job.finished") > kinds.index("doi.reached_target")
    reached = [
        body["data"]
        for body, _, _ in receiver.received
        if body["dataset"] == "alpha" and body["type"] == "doi.reached_target"
    ]
    assert {(d["kind"], d["state"]) for d in reached} == {
        ("version", "findable"),
        ("concept", "findable"),
    }

    # And the secret was never logged (the log lines were captured: the requests are there)
    assert "webhook request" in caplog.text
    assert SECRET not in caplog.text


def test_without_a_webhook_no_event_is_written(make_pipeline) -> None:
    pipeline = make_pipeline()
    create(pipeline.runtime, "quiet")
    publish(pipeline.runtime, "quiet", "v1")
    wait_until(lambda: not open_intents(pipeline.runtime), timeout=60)
    assert _events_written(pipeline.runtime) == {}


def test_a_refused_doi_tells_the_archive_it_failed_then_that_its_job_failed(
    make_pipeline, receiver
) -> None:
    pipeline = make_pipeline(ARCHIVE_WEBHOOK_URL=receiver.url, ARCHIVE_WEBHOOK_SECRET=SECRET)
    create(pipeline.runtime, "broken")
    wait_until(lambda: not open_intents(pipeline.runtime), timeout=60)
    # DataCite refuses the version DOI for good (422: never retried)
    pipeline.inject({"method": "PUT", "doi": "10.80507/test.broken/v1", "respond": {"status": 422}})
    publish(pipeline.runtime, "broken", "v1")
    wait_until(lambda: not open_intents(pipeline.runtime), timeout=60)
    kinds = [(body["type"], body["data"].get("kind")) for body, _, _ in receiver.received]
    assert kinds == [
        ("doi.reached_target", "concept"),  # the draft, before the publication
        ("doi.failed", "version"),
        ("job.failed", None),
    ]
    failed = receiver.received[1][0]["data"]
    assert failed["state"] == "failed"
    assert "422" in failed["error"]


def test_a_refused_event_fails_alone_and_a_throttled_one_waits_without_using_tries(
    make_pipeline, receiver
) -> None:
    # Given an archive that refuses the first event for good (400), then asks doiflow to
    # slow down (429, Retry-After 1 s), with one try per event
    receiver.answers = [(400, {}), (429, {"Retry-After": "1"})]
    pipeline = make_pipeline(
        ARCHIVE_WEBHOOK_URL=receiver.url,
        ARCHIVE_WEBHOOK_SECRET=SECRET,
        ARCHIVE_WEBHOOK_MAX_ATTEMPTS="1",
    )

    # When a dataset is created and published
    create(pipeline.runtime, "picky")
    wait_until(lambda: receiver.refused == 1, timeout=30)
    publish(pipeline.runtime, "picky", "v1")
    wait_until(lambda: not open_intents(pipeline.runtime), timeout=30)

    # Then the refused event failed, and every later one arrived, the throttled one too
    with pipeline.runtime.sessions() as session:
        rows = list(
            session.scalars(
                select(Intent).where(Intent.topic == "archive_webhook").order_by(Intent.id)
            )
        )
    assert [r.status for r in rows] == ["failed"] + ["done"] * (len(rows) - 1)
    assert "answered 400" in (rows[0].last_error or "")
    assert receiver.ids() == [r.payload["event"]["id"] for r in rows[1:]]
    assert receiver.refused == 2
