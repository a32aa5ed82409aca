"""Regressions for the third review: concepts, throttling floors, dying deliveries, looks."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

from sqlalchemy import update

from app import outbox
from app.db import utcnow
from app.models import Intent
from app.services import datasets, doi_sync
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


def test_publishing_again_after_deleting_an_unpublished_version_recreates_the_concept(
    make_pipeline,
) -> None:
    pipeline = make_pipeline(start=False)
    create(pipeline.runtime, "again")
    publish(pipeline.runtime, "again", "v1")
    call(pipeline.runtime, datasets.delete_version, "again", "v1")
    # Nothing was ever public: the concept goes back to being a draft, settled.
    assert doi_row(pipeline.runtime, concept("again")).target == "draft"
    pipeline.start()
    wait_until(
        lambda: (
            doi_state(pipeline.runtime, concept("again")) == "draft"
            and not open_intents(pipeline.runtime)
        )
    )
    job = publish(pipeline.runtime, "again", "v2")
    wait_until(lambda: job_status(pipeline.runtime, job) == "finished")
    assert doi_state(pipeline.runtime, concept("again")) == "findable"
    assert pipeline.remote_dois()[concept("again")] == "findable"


def test_the_concept_is_published_only_after_a_version_is_findable(make_pipeline) -> None:
    pipeline = make_pipeline(start=False)
    create(pipeline.runtime, "order")
    publish(pipeline.runtime, "order", "v1")
    pipeline.start()
    wait_until(lambda: doi_state(pipeline.runtime, concept("order")) == "findable")
    publishes = [
        doi for _, doi, event in writes(pipeline.datacite_requests()) if event == "publish"
    ]
    assert publishes == [version_doi("order", "v1"), concept("order")]
    related = pipeline.datacite_document(concept("order"))["relatedIdentifiers"]
    assert {r["relationType"] for r in related} == {"HasVersion"}


def test_retry_after_zero_is_not_a_tight_loop(make_pipeline) -> None:
    pipeline = make_pipeline(RETRY_BASE_SECONDS="0.5", RETRY_CAP_SECONDS="1")
    body = '{"errors":[{"status":"429","title":"Too Many Requests"}]}'
    pipeline.inject(
        {
            "method": "PUT",
            "times": 3,
            "respond": {"status": 429, "headers": {"Retry-After": "0"}, "body": body},
        }
    )
    create(pipeline.runtime, "zero")
    wait_until(lambda: doi_state(pipeline.runtime, concept("zero")) == "draft")
    times = [datetime.fromisoformat(r["time"]) for r in pipeline.datacite_requests()]
    gaps = [(b - a).total_seconds() for a, b in pairwise(times)]
    assert len(times) == 4
    assert min(gaps) >= 0.5  # the configured base is the floor


def test_deliveries_that_keep_dying_end_in_failed(make_runtime) -> None:
    runtime = make_runtime(DOI_MAX_ATTEMPTS="3")
    create(runtime, "dying")
    # Three deliveries whose workers died: each lease expires and is rescued.
    for _ in range(3):
        with runtime.sessions.begin() as session:
            outbox.claim_due(session, limit=10, lease_seconds=30)
            session.execute(update(Intent).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
            assert outbox.rescue_expired(session) == 1
    with runtime.sessions.begin() as session:
        [claim] = outbox.claim_due(session, limit=10, lease_seconds=30)
    assert doi_sync.prepare(runtime, claim.intent_id, claim.lease_token) is None
    row = doi_row(runtime, concept("dying"))
    assert row.state == "failed"
    assert "retries exhausted after 3 attempts" in row.last_error


def test_a_publish_whose_answer_was_lost_then_a_delete_ends_hidden_not_failed(
    make_pipeline,
) -> None:
    # A long backoff keeps the retry waiting while the dataset is deleted.
    pipeline = make_pipeline(RETRY_BASE_SECONDS="30", RETRY_CAP_SECONDS="30")
    create(pipeline.runtime, "lost")
    wait_until(lambda: doi_state(pipeline.runtime, concept("lost")) == "draft")
    pipeline.inject(
        {
            "method": "PUT",
            "doi": concept("lost"),
            "times": 1,
            "action": "timeout_after_commit",
            "seconds": 3,
        }
    )
    publish(pipeline.runtime, "lost", "v1")
    # DataCite made the concept findable, but the answer was lost: here it is a draft.
    wait_until(lambda: doi_row(pipeline.runtime, concept("lost")).attempts == 1)
    pipeline.stop()
    assert pipeline.remote_dois()[concept("lost")] == "findable"
    assert doi_state(pipeline.runtime, concept("lost")) == "draft"
    call(pipeline.runtime, datasets.delete_dataset, "lost")
    with pipeline.runtime.sessions.begin() as session:  # skip the rest of the backoff
        session.execute(
            update(Intent).where(Intent.status == "pending").values(available_at=utcnow())
        )
    second = make_pipeline()
    wait_until(lambda: doi_state(second.runtime, concept("lost")) == "registered")
    assert second.remote_dois()[concept("lost")] == "registered"
    events = [h.event for h in doi_row(second.runtime, concept("lost")).history]
    assert events[-2:] == ["confirm_findable", "confirm_hidden"]


def test_a_hide_answered_404_fails_with_a_reason(make_pipeline) -> None:
    pipeline = make_pipeline()
    create(pipeline.runtime, "vanished")
    publish(pipeline.runtime, "vanished", "v1")
    wait_until(lambda: doi_state(pipeline.runtime, concept("vanished")) == "findable")
    wait_until(lambda: not open_intents(pipeline.runtime))
    target = version_doi("vanished", "v1")
    pipeline.inject(
        {
            "method": "PUT",
            "doi": target,
            "respond": {"status": 404, "body": '{"errors":[{"status":"404","title":"not found"}]}'},
        }
    )
    call(pipeline.runtime, datasets.delete_version, "vanished", "v1")
    wait_until(lambda: doi_state(pipeline.runtime, target) == "failed")
    assert "no DOI" in doi_row(pipeline.runtime, target).last_error
