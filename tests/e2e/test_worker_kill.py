"""Chaos: the doi-worker is SIGKILLed while its DataCite call is in flight, or after
DataCite answered and before the outcome was recorded."""

from __future__ import annotations

import psycopg
import pytest

from tests.e2e.conftest import Stack, concept_doi, confirmations, seconds_between
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


def waiting_for_a_row_lock(database_url: str) -> bool:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    return bool(row and row[0])


def test_a_worker_killed_before_recording_an_answer_loses_nothing(
    stack: Stack, e2e_database_url: str
) -> None:
    # Given the next PUT to DataCite takes a second to answer
    stack.start_relay()
    stack.start_worker()
    api, sandbox = stack.api, stack.sandbox
    doi = concept_doi("kill-recorder")
    sandbox.add_faults({"method": "PUT", "times": 1, "latency_ms": 1000})
    api.create_dataset("kill-recorder")
    wait_until(lambda: sandbox.requests(doi, "PUT"), 10, f"the first PUT of {doi}")
    # When, while it is in flight, a transaction of ours takes the DOI's row, so that
    # the answer, once back, waits to be recorded; and the worker dies then
    with psycopg.connect(e2e_database_url) as holder:
        holder.execute("SELECT id FROM dois WHERE doi = %s FOR UPDATE", (doi,))
        wait_until(
            lambda: waiting_for_a_row_lock(e2e_database_url), 10, "the record to wait for the row"
        )
        stack.harness.kill("worker")
        holder.rollback()

    # Then DataCite holds the draft but doiflow recorded nothing of its answer
    sandbox.wait_for_state(doi, "draft")
    body = api.doi(doi)
    assert (body["state"], body["attempts"], body["last_status"]) == ("pending", 0, None), body

    # When a new worker starts, the intent is rescued after its lease and the DOI is a
    # draft, confirmed once: the re-run looked, found its write applied, and wrote nothing
    stack.start_worker("worker")
    body = api.wait_for_state(doi, "draft", timeout=LEASE_SECONDS + 15)
    assert len(confirmations(body, "draft")) == 1, body["history"]
    assert len(sandbox.requests(doi, "PUT")) == 1
    assert len(sandbox.requests(doi, "GET")) == 1
