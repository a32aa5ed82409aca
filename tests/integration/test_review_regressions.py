"""Regressions for bugs a review found, each reproduced first against the real stack."""

from __future__ import annotations

import threading
import time

from click.testing import CliRunner

from app import outbox
from app.cli import main
from app.clients.errors import RemoteDoi
from app.models import Intent, Job
from app.services import datasets, doi_sync, jobs
from tests.fixtures.pipeline import wait_until
from tests.integration.lifecycle_helpers import (
    call,
    concept,
    create,
    doi_row,
    doi_state,
    job_status,
    open_intents,
    publish,
    version_doi,
    writes,
)


def _steps(runtime, job_id: int) -> dict[str, str]:
    with runtime.sessions() as session:
        return {step.name: step.status for step in session.get(Job, job_id).steps}


def test_job_finishes_when_the_concept_needs_no_call(make_pipeline) -> None:
    # DOI_PUBLISH=false and the version repeats the draft metadata: the concept is
    # already right, so no concept call is made, and the job must still finish.
    pipeline = make_pipeline(DOI_PUBLISH="false")
    create(pipeline.runtime, "same", title="Same")
    wait_until(lambda: doi_state(pipeline.runtime, concept("same")) == "draft")
    job = publish(pipeline.runtime, "same", "v1", title="Same")
    wait_until(lambda: job_status(pipeline.runtime, job) == "finished")
    assert _steps(pipeline.runtime, job) == {"version_doi": "done", "concept_doi": "done"}


def test_deleting_the_only_version_keeps_a_draft_concept(make_pipeline) -> None:
    pipeline = make_pipeline(DOI_PUBLISH="false")
    create(pipeline.runtime, "keep")
    publish(pipeline.runtime, "keep", "v1")
    wait_until(lambda: doi_state(pipeline.runtime, version_doi("keep", "v1")) == "draft")
    call(pipeline.runtime, datasets.delete_version, "keep", "v1")
    wait_until(lambda: doi_state(pipeline.runtime, version_doi("keep", "v1")) == "deleted")
    job = publish(pipeline.runtime, "keep", "v2")
    wait_until(lambda: job_status(pipeline.runtime, job) == "finished")
    assert doi_state(pipeline.runtime, concept("keep")) == "draft"
    assert pipeline.remote_dois() == {concept("keep"): "draft", version_doi("keep", "v2"): "draft"}


def test_publishing_off_in_the_worker_never_sends_a_hide(make_pipeline) -> None:
    first = make_pipeline()
    create(first.runtime, "flip")
    publish(first.runtime, "flip", "v1")
    wait_until(lambda: doi_state(first.runtime, concept("flip")) == "findable")
    wait_until(lambda: not open_intents(first.runtime))
    first.stop()
    second = make_pipeline(DOI_PUBLISH="false", LEASE_SECONDS="2")
    call(second.runtime, datasets.delete_version, "flip", "v1")
    time.sleep(3)  # longer than a lease: a looping hide would have been sent again
    assert [w for w in writes(second.datacite_requests()) if w[2] == "hide"] == []
    assert open_intents(second.runtime) == []
    assert doi_state(second.runtime, version_doi("flip", "v1")) == "findable"


def test_deleting_a_dataset_while_a_version_is_recorded_does_not_deadlock(
    runtime, monkeypatch
) -> None:
    create(runtime, "race")
    publish(runtime, "race", "v1")
    version_id = doi_row(runtime, version_doi("race", "v1")).id
    with runtime.sessions.begin() as session:
        claims = outbox.claim_due(session, limit=10, lease_seconds=60)
    with runtime.sessions() as session:
        claim = next(
            c for c in claims if session.get(Intent, c.intent_id).key == f"doi:{version_id}"
        )
    plan = doi_sync.prepare(runtime, claim.intent_id, claim.lease_token)
    assert plan is not None
    original = jobs.on_doi_changed

    def slow_bookkeeping(*args, **kwargs):
        # Hold the version row lock long enough for the API to ask for the concept's.
        original(*args, **kwargs)
        time.sleep(1.0)

    monkeypatch.setattr(jobs, "on_doi_changed", slow_bookkeeping)
    errors: list[BaseException] = []

    def record() -> None:
        try:
            doi_sync.record(runtime, plan, RemoteDoi(plan.doi, "findable", http_status=201))
        except BaseException as error:
            errors.append(error)

    worker = threading.Thread(target=record)
    worker.start()
    time.sleep(0.4)
    call(runtime, datasets.delete_dataset, "race")
    worker.join()
    assert errors == []
    assert doi_row(runtime, version_doi("race", "v1")).target == "registered"


def test_an_edge_block_that_never_lifts_fails_the_doi_by_age(make_pipeline) -> None:
    pipeline = make_pipeline(DOI_MAX_AGE_SECONDS="2", RETRY_BASE_SECONDS="0.2")
    pipeline.inject(
        {
            "method": "PUT",
            "respond": {"status": 403, "body": "<html>blocked</html>", "content_type": "text/html"},
        }
    )
    create(pipeline.runtime, "blocked")
    wait_until(lambda: doi_state(pipeline.runtime, concept("blocked")) == "failed", timeout=10)
    row = doi_row(pipeline.runtime, concept("blocked"))
    assert "blocked" in row.last_error  # the HTML body is kept for people to read
    puts = [r for r in pipeline.datacite_requests() if r["method"] == "PUT"]
    assert len(puts) < 12  # backoff grew; no hammering


def test_the_worker_renews_the_lease_when_it_starts(runtime) -> None:
    create(runtime, "lease")
    with runtime.sessions.begin() as session:
        [claim] = outbox.claim_due(session, limit=10, lease_seconds=0.5)
    time.sleep(0.6)
    assert doi_sync.prepare(runtime, claim.intent_id, claim.lease_token) is not None
    with runtime.sessions.begin() as session:
        assert outbox.rescue_expired(session) == 0


def test_relay_claims_no_more_than_max_in_flight(make_runtime) -> None:
    from dramatiq.brokers.stub import StubBroker

    from workers.relay import Relay

    runtime = make_runtime(RELAY_MAX_IN_FLIGHT="3")
    for n in range(5):
        create(runtime, f"cap{n}")
    broker = StubBroker()
    broker.declare_queue("doi")
    relay = Relay(runtime, broker)
    assert relay.run_once() == 3
    assert relay.run_once() == 0


def test_relay_refuses_to_start_without_redis_url(clean_database: str, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", clean_database)
    monkeypatch.delenv("REDIS_URL", raising=False)
    result = CliRunner().invoke(main, ["relay"])
    assert result.exit_code == 1
    assert "REDIS_URL is required" in result.output
