"""A doi-worker asked to stop (SIGTERM) records the answers it still holds first."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.e2e.conftest import Stack, answer_waiting_to_be_recorded, confirmations
from tests.e2e.harness import wait_until


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
    with answer_waiting_to_be_recorded(stack, e2e_database_url, "stop-recorder") as doi:
        # When the worker is asked to stop, as a supervisor asks Dramatiq (SIGTERM to its
        # main process, which passes it on), and the row is freed only after Dramatiq's
        # own shutdown is over (it takes a second or two)
        worker = stack.harness["worker"]
        assert worker.popen is not None
        os.kill(worker.popen.pid, signal.SIGTERM)
        time.sleep(4)
        assert worker.running  # still recording
    wait_until(lambda: not worker.running, 20, "the worker to exit")
    assert worker.exit_status() == 0

    # Then the stopping worker recorded the answer itself before exiting: the DOI is a
    # draft at once, with no rescue and no look
    body = api.doi(doi)
    assert body["state"] == "draft", body
    assert len(confirmations(body, "draft")) == 1, body["history"]
    assert sandbox.requests(doi, "GET") == []
