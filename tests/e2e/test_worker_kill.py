"""Chaos: the doi-worker is SIGKILLed while its DataCite call is in flight, or after
DataCite answered and before the outcome was recorded."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import (
    Stack,
    answer_waiting_to_be_recorded,
    concept_doi,
    confirmations,
    rows_waited_for,
    seconds_between,
)
from tests.e2e.harness import wait_until

LEASE_SECONDS = 4
LATENCY_MS = 3000


@pytest.fixture(scope="module")
def e2e_overrides() -> dict[str, str]:
    """A read timeout longer than usual, so the kill surely lands while the call waits."""
    return {"LEASE_SECONDS": str(LEASE_SECONDS), "DATACITE_READ_TIMEOUT": "2.5"}


def test_killed_worker_call_is_rerun_after_the_lease_expires(stack: Stack) -> None:
    # Given the next PUT to DataCite will take 3 seconds to answer
    stack.start_relay()
    stack.start_worker()
    api, sandbox = stack.api, stack.sandbox
    doi = concept_doi("kill-worker")
    sandbox.add_faults({"method": "PUT", "times": 1, "latency_ms": LATENCY_MS})

    # When a dataset is created and the worker dies while DataCite is still answering
    api.create_dataset("kill-worker")
    wait_until(
        lambda: sandbox.requests(doi, "PUT"), 10, f"the first PUT of {doi} to reach the sandbox"
    )
    stack.harness.kill("worker")

    # Then nothing was recorded: the worker died mid-call, not after a timeout
    body = api.doi(doi)
    assert (body["state"], body["attempts"], body["last_status"]) == ("pending", 0, None), body

    # When a new worker starts
    stack.start_worker("worker")

    # Then the intent is re-run once its lease has expired, and the DOI is a draft
    body = api.wait_for_state(doi, "draft", timeout=LEASE_SECONDS + 15)
    sandbox.wait_for_state(doi, "draft")
    assert len(confirmations(body, "draft")) == 1, body["history"]
    # The dead call may have been applied (it was: the sandbox finished it), so the re-run
    # looked before deciding, found exactly what it wanted, and wrote nothing twice.
    [put] = sandbox.requests(doi, "PUT")
    [look] = sandbox.requests(doi, "GET")
    gap = seconds_between(put, look)
    # The lease was taken just before the first PUT, so the re-run waits about a lease.
    assert gap >= LEASE_SECONDS - 1, f"re-run after {gap:.2f}s, before the lease could expire"


def test_a_worker_killed_with_an_answer_queued_for_recording_loses_nothing(
    stack: Stack, e2e_database_url: str
) -> None:
    # Given one answer whose record waits for its row (held by us), and a second answer
    # queued behind it for the worker's one recorder thread
    stack.start_relay()
    stack.start_worker()
    api, sandbox = stack.api, stack.sandbox
    queued = concept_doi("kill-queued")
    with answer_waiting_to_be_recorded(stack, e2e_database_url, "kill-recorder") as blocked:
        api.create_dataset("kill-queued")
        sandbox.wait_for_state(queued, "draft")
        time.sleep(1)  # its worker thread has handed the answer over by now
        assert rows_waited_for(e2e_database_url) == 1  # only the first record is running
        # When the worker dies then
        stack.harness.kill("worker")

    # Then DataCite holds both drafts, and doiflow recorded neither answer
    for doi in (blocked, queued):
        body = api.doi(doi)
        assert (body["state"], body["attempts"], body["last_status"]) == ("pending", 0, None), body

    # When a new worker starts, both intents are rescued after their leases and both DOIs
    # are drafts, confirmed once: each re-run looked, found its write applied, wrote nothing
    stack.start_worker("worker")
    for doi in (blocked, queued):
        body = api.wait_for_state(doi, "draft", timeout=LEASE_SECONDS + 15)
        assert len(confirmations(body, "draft")) == 1, body["history"]
        assert len(sandbox.requests(doi, "PUT")) == 1
        assert len(sandbox.requests(doi, "GET")) == 1
