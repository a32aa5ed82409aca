"""DataCite errors over real processes (a compact subset; the full matrix runs in-process)."""

from __future__ import annotations

import psycopg

from tests.e2e.conftest import Stack, concept_doi, confirmations, seconds_between
from tests.e2e.harness import wait_until


def _open_intents(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM outbox WHERE status IN ('pending', 'enqueued')"
        ).fetchone()
    return int(row[0]) if row else 0


def test_a_422_fails_the_doi_after_exactly_one_call(stack: Stack, e2e_database_url: str) -> None:
    # Given DataCite will reject the DOI's PUT as unprocessable
    stack.start_relay()
    stack.start_worker()
    api, sandbox = stack.api, stack.sandbox
    doi = concept_doi("rejected")
    title = "e2e: creators is missing a name"
    sandbox.add_faults(
        {
            "method": "PUT",
            "doi": doi,
            "times": 1,
            "respond": {"status": 422, "body": {"errors": [{"status": "422", "title": title}]}},
        }
    )

    # When the dataset is created
    api.create_dataset("rejected")

    # Then the DOI fails at once, with DataCite's error visible through the API
    body = api.wait_for_state(doi, "failed")
    assert body["last_status"] == 422
    assert title in (body["last_error"] or ""), body["last_error"]
    assert [entry["http_status"] for entry in body["history"] if entry["to"] == "failed"] == [422]
    # And it is never retried automatically: nothing is left queued that could call again
    wait_until(lambda: _open_intents(e2e_database_url) == 0, 10, "no open intent")
    assert len(sandbox.requests(doi)) == 1, sandbox.requests(doi)
    assert sandbox.state_of(doi) is None
    assert api.doi(doi)["state"] == "failed"


def test_a_429_waits_for_retry_after_without_using_an_attempt(stack: Stack) -> None:
    # Given DataCite will throttle the DOI's first PUT, asking for 2 seconds
    stack.start_relay()
    stack.start_worker()
    api, sandbox = stack.api, stack.sandbox
    doi = concept_doi("throttled")
    sandbox.add_faults(
        {
            "method": "PUT",
            "doi": doi,
            "times": 1,
            "respond": {
                "status": 429,
                "headers": {"Retry-After": "2"},
                "body": {"errors": [{"status": "429", "title": "Too Many Requests"}]},
            },
        }
    )

    # When the dataset is created
    api.create_dataset("throttled")

    # Then the throttled DOI waits without using an attempt
    throttled = wait_until(
        lambda: (body := api.doi(doi))["last_status"] == 429 and body,
        10,
        f"{doi} to record the 429",
    )
    assert (throttled["state"], throttled["attempts"]) == ("pending", 0), throttled
    # And becomes a draft once DataCite answers, still with no attempt used
    body = api.wait_for_state(doi, "draft")
    assert body["attempts"] == 0
    assert len(confirmations(body, "draft")) == 1
    puts = sandbox.requests(doi, "PUT")
    assert [p["status"] for p in puts] == [429, 201], puts
    gap = seconds_between(puts[0], puts[1])
    assert gap >= 2, f"retried {gap:.2f}s after a 429 asking for 2s"
