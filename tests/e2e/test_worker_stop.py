"""A doi-worker asked to stop (SIGTERM) records the answers it still holds first."""

from __future__ import annotations

import os
import signal
import time

import psycopg
import pytest

from tests.e2e.conftest import Stack, concept_doi, confirmations
from tests.e2e.harness import wait_until
from tests.e2e.test_worker_kill import waiting_for_a_row_lock


@pytest.fixture(scope="module")
def e2e_overrides() -> dict[str, str]:
    """A lease longer than the test holds the record up (only the shutdown is at stake), and
    a read timeout longer than the slow PUT."""
    return {"LEASE_SECONDS": "15", "DATACITE_READ_TIMEOUT": "5"}


def test_a_stopping_worker_records_the_answers_it_holds_before_it_exits(
    stack: Stack, e2e_database_url: str
) -> None:
    # Given an answer from DataCite waiting to be recorded (the DOI's row held by us)
    stack.start_relay()
    stack.start_worker()
    api, sandbox = stack.api, stack.sandbox
    doi = concept_doi("stop-recorder")
    sandbox.add_faults({"method": "PUT", "times": 1, "latency_ms": 1000})
    api.create_dataset("stop-recorder")
    wait_until(lambda: sandbox.requests(doi, "PUT"), 10, f"the first PUT of {doi}")
    with psycopg.connect(e2e_database_url) as holder:
        holder.execute("SELECT id FROM dois WHERE doi = %s FOR UPDATE", (doi,))
        wait_until(
            lambda: waiting_for_a_row_lock(e2e_database_url), 10, "the record to wait for the row"
        )
        # When the worker is asked to stop, as a supervisor asks Dramatiq (SIGTERM to its
        # main process, which passes it on), and the row is freed only after Dramatiq's
        # own shutdown is over (it takes a second or two)
        worker = stack.harness["worker"]
        assert worker.popen is not None
        os.kill(worker.popen.pid, signal.SIGTERM)
        time.sleep(4)
        assert worker.running  # still recording
        holder.rollback()
    wait_until(lambda: not worker.running, 20, "the worker to exit")
    assert worker.exit_status() == 0

    # Then the stopping worker recorded the answer itself before exiting: the DOI is a
    # draft at once, with no rescue and no look
    body = api.doi(doi)
    assert body["state"] == "draft", body
    assert len(confirmations(body, "draft")) == 1, body["history"]
    assert sandbox.requests(doi, "GET") == []
