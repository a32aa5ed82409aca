"""DataCite's answers and what they do to a DOI (DESIGN "DataCite errors"), end to end."""

from __future__ import annotations

import json
from datetime import datetime
from itertools import pairwise

import pytest
from sqlalchemy import update

from app.db import utcnow
from app.models import Intent
from app.services import datasets, versions
from tests.fixtures.pipeline import wait_until
from tests.support.lifecycle import (
    call,
    concept,
    count_rows,
    create,
    doi_row,
    doi_state,
    open_intents,
    publish,
    version_doi,
    writes,
)


def _puts(pipeline, doi: str) -> list[dict]:
    return [r for r in pipeline.datacite_requests() if r["method"] == "PUT" and r["doi"] == doi]


PERMANENT = [
    (400, json.dumps({"errors": [{"status": "400", "title": "You need to provide a payload"}]})),
    (401, json.dumps({"errors": [{"status": "401", "title": "Bad credentials."}]})),
    (
        403,
        json.dumps(
            {
                "errors": [
                    {"status": "403", "title": "You are not authorized to access this resource."}
                ]
            }
        ),
    ),
    (
        404,
        json.dumps(
            {
                "errors": [
                    {"status": "404", "title": "The resource you are looking for doesn't exist."}
                ]
            }
        ),
    ),
    (405, json.dumps({"errors": [{"status": "405", "title": "Method not allowed"}]})),
    (409, json.dumps({"errors": [{"status": "409", "title": "Conflict"}]})),
    (
        422,
        json.dumps({"errors": [{"source": "url", "title": "Can't be blank", "uid": "10.80507/x"}]}),
    ),
]


@pytest.mark.parametrize(("status", "body"), PERMANENT)
def test_permanent_errors_fail_the_doi_after_exactly_one_call(
    make_pipeline, status: int, body: str
) -> None:
    pipeline = make_pipeline()
    pipeline.inject({"method": "PUT", "respond": {"status": status, "body": body}})
    create(pipeline.runtime, f"perm{status}")
    doi = concept(f"perm{status}")
    wait_until(lambda: doi_state(pipeline.runtime, doi) == "failed")
    row = doi_row(pipeline.runtime, doi)
    assert len(_puts(pipeline, doi)) == 1
    assert row.last_status == status
    title = json.loads(body)["errors"][0]["title"]
    assert title in row.last_error
    assert row.history[-1].to_state == "failed"
    assert row.history[-1].http_status == status
    assert open_intents(pipeline.runtime) == []


def test_429_with_retry_after_waits_and_uses_no_attempt(make_pipeline) -> None:
    pipeline = make_pipeline()
    pipeline.inject(
        {
            "method": "PUT",
            "times": 1,
            "respond": {
                "status": 429,
                "headers": {"Retry-After": "2"},
                "body": json.dumps({"errors": [{"status": "429", "title": "Too Many Requests"}]}),
            },
        }
    )
    create(pipeline.runtime, "slow")
    # While snoozed the DOI is still pending with no attempt used.
    wait_until(lambda: doi_row(pipeline.runtime, concept("slow")).last_status == 429)
    snoozed = doi_row(pipeline.runtime, concept("slow"))
    assert (snoozed.state, snoozed.attempts) == ("pending", 0)
    wait_until(lambda: doi_state(pipeline.runtime, concept("slow")) == "draft", timeout=10)
    first, second = (datetime.fromisoformat(r["time"]) for r in _puts(pipeline, concept("slow")))
    assert (second - first).total_seconds() >= 2.0
    assert doi_row(pipeline.runtime, concept("slow")).attempts == 0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried_until_the_fault_clears(make_pipeline, status: int) -> None:
    pipeline = make_pipeline()
    pipeline.inject(
        {
            "method": "PUT",
            "times": 2,
            "respond": {"status": status, "body": "<html>oops</html>", "content_type": "text/html"},
        }
    )
    create(pipeline.runtime, f"flaky{status}")
    wait_until(lambda: doi_state(pipeline.runtime, concept(f"flaky{status}")) == "draft")
    assert len(_puts(pipeline, concept(f"flaky{status}"))) == 3
    assert pipeline.remote_dois() == {concept(f"flaky{status}"): "draft"}


def test_server_errors_fail_the_doi_once_attempts_are_exhausted(make_pipeline) -> None:
    pipeline = make_pipeline(DOI_MAX_ATTEMPTS="3")
    pipeline.inject({"method": "PUT", "respond": {"status": 503, "body": "down"}})
    create(pipeline.runtime, "down")
    wait_until(lambda: doi_state(pipeline.runtime, concept("down")) == "failed")
    row = doi_row(pipeline.runtime, concept("down"))
    assert len(_puts(pipeline, concept("down"))) == 3
    assert row.attempts == 3
    assert "retries exhausted" in row.history[-1].detail


def test_read_timeout_is_retried_and_converges(make_pipeline) -> None:
    pipeline = make_pipeline()
    pipeline.inject({"method": "PUT", "times": 1, "action": "timeout", "seconds": 3})
    create(pipeline.runtime, "late")
    wait_until(lambda: doi_state(pipeline.runtime, concept("late")) == "draft")
    assert pipeline.remote_dois() == {concept("late"): "draft"}


def test_timeout_after_commit_is_confirmed_by_a_look_without_a_second_write(make_pipeline) -> None:
    pipeline = make_pipeline()
    pipeline.inject({"method": "PUT", "times": 1, "action": "timeout_after_commit", "seconds": 3})
    create(pipeline.runtime, "applied")
    wait_until(lambda: doi_state(pipeline.runtime, concept("applied")) == "draft")
    # The PUT created it (201, answer lost); the next delivery looked (GET), found exactly
    # the metadata it wanted, and adopted it: no second write, never a 422.
    methods = [r["method"] for r in pipeline.datacite_requests()]
    assert methods == ["PUT", "GET"]
    row = doi_row(pipeline.runtime, concept("applied"))
    assert [h.to_state for h in row.history] == ["draft"]
    assert "a look found DataCite holding it draft" in row.history[0].detail


def test_no_doi_is_left_pending_by_a_4xx(make_pipeline) -> None:
    pipeline = make_pipeline()
    pipeline.inject(
        {
            "method": "PUT",
            "respond": {"status": 422, "body": json.dumps({"errors": [{"title": "bad"}]})},
        }
    )
    for n in range(5):
        create(pipeline.runtime, f"many{n}")
    wait_until(
        lambda: all(doi_state(pipeline.runtime, concept(f"many{n}")) == "failed" for n in range(5))
    )
    assert count_rows(pipeline.runtime, Intent) == 5
    assert open_intents(pipeline.runtime) == []


def test_hide_applied_but_answer_lost_is_confirmed_by_a_look(make_pipeline) -> None:
    pipeline = make_pipeline()
    create(pipeline.runtime, "hidden")
    publish(pipeline.runtime, "hidden", "v1")
    wait_until(lambda: doi_state(pipeline.runtime, concept("hidden")) == "findable")
    wait_until(lambda: open_intents(pipeline.runtime) == [])
    target = version_doi("hidden", "v1")
    pipeline.inject(
        {"method": "PUT", "doi": target, "times": 1, "action": "timeout_after_commit", "seconds": 3}
    )
    call(pipeline.runtime, versions.delete_version, "hidden", "v1")
    wait_until(lambda: doi_state(pipeline.runtime, target) == "registered")
    calls = [
        (r["method"], r.get("event")) for r in pipeline.datacite_requests() if r["doi"] == target
    ]
    # The lost hide, then a look that finds it hidden: no second hide is sent.
    assert calls[-2:] == [("PUT", "hide"), ("GET", None)]
    assert doi_row(pipeline.runtime, target).history[-1].to_state == "registered"


def test_delete_applied_but_answer_lost_is_confirmed_by_a_look(make_pipeline) -> None:
    pipeline = make_pipeline()
    create(pipeline.runtime, "dropped")
    wait_until(lambda: doi_state(pipeline.runtime, concept("dropped")) == "draft")
    pipeline.inject(
        {"method": "DELETE", "times": 1, "action": "timeout_after_commit", "seconds": 3}
    )
    call(pipeline.runtime, datasets.delete_dataset, "dropped")
    wait_until(lambda: doi_state(pipeline.runtime, concept("dropped")) == "deleted")
    calls = [
        (r["method"], r["status"])
        for r in pipeline.datacite_requests()
        if r["doi"] == concept("dropped")
    ]
    assert calls[-1] == ("GET", 404)
    # One DELETE (its answer lost), then a look that finds it gone: no second DELETE.
    assert [c[0] for c in calls].count("DELETE") == 1
    assert pipeline.remote_dois() == {}


def test_publishing_off_in_the_worker_never_sends_a_hide(make_pipeline) -> None:
    first = make_pipeline()
    create(first.runtime, "flip")
    publish(first.runtime, "flip", "v1")
    wait_until(lambda: doi_state(first.runtime, concept("flip")) == "findable")
    wait_until(lambda: not open_intents(first.runtime))
    first.stop()
    second = make_pipeline(DOI_PUBLISH="false", LEASE_SECONDS="2")
    call(second.runtime, versions.delete_version, "flip", "v1")
    # No hide can ever be sent: nothing was even queued for it (a queued one would loop)
    assert open_intents(second.runtime) == []
    assert [w for w in writes(second.datacite_requests()) if w[2] == "hide"] == []
    assert doi_state(second.runtime, version_doi("flip", "v1")) == "findable"


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


def test_deleting_a_doi_datacite_never_had_records_the_404(make_pipeline) -> None:
    pipeline = make_pipeline(start=False)
    create(pipeline.runtime, "never")
    call(pipeline.runtime, datasets.delete_dataset, "never")
    pipeline.start()
    wait_until(lambda: doi_state(pipeline.runtime, concept("never")) == "deleted")
    row = doi_row(pipeline.runtime, concept("never"))
    assert row.history[-1].http_status == 404
    assert writes(pipeline.datacite_requests()) == []


def test_429_without_retry_after_backs_off_without_using_an_attempt(make_pipeline) -> None:
    pipeline = make_pipeline()
    body = '{"errors":[{"status":"429","title":"Too Many Requests"}]}'
    pipeline.inject({"method": "PUT", "times": 2, "respond": {"status": 429, "body": body}})
    create(pipeline.runtime, "bare429")
    wait_until(lambda: doi_state(pipeline.runtime, concept("bare429")) == "draft")
    row = doi_row(pipeline.runtime, concept("bare429"))
    assert row.attempts == 0
    assert len([r for r in pipeline.datacite_requests() if r["method"] == "PUT"]) == 3


def test_the_concept_is_published_only_after_a_version_is_findable(make_pipeline) -> None:
    pipeline = make_pipeline(start=False)
    create(pipeline.runtime, "order")
    publish(pipeline.runtime, "order", "v1")
    pipeline.start()
    wait_until(lambda: doi_state(pipeline.runtime, concept("order")) == "findable")
    wait_until(lambda: not open_intents(pipeline.runtime))
    publishes = [
        doi for _, doi, event in writes(pipeline.datacite_requests()) if event == "publish"
    ]
    # The version first; the concept after it (it cites it). Created at the same moment,
    # the version may go out before DataCite has the concept, and is then updated once
    # to name it (never citing a DOI DataCite does not have).
    assert publishes[0] == version_doi("order", "v1")
    assert publishes.count(concept("order")) == 1
    assert publishes.count(version_doi("order", "v1")) <= 2
    related = pipeline.datacite_document(concept("order"))["relatedIdentifiers"]
    assert {r["relationType"] for r in related} == {"HasVersion"}
    related = pipeline.datacite_document(version_doi("order", "v1"))["relatedIdentifiers"]
    assert {(r["relationType"], r["relatedIdentifier"]) for r in related} == {
        ("IsVersionOf", concept("order"))
    }


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
    call(pipeline.runtime, versions.delete_version, "vanished", "v1")
    wait_until(lambda: doi_state(pipeline.runtime, target) == "failed")
    assert "no DOI" in doi_row(pipeline.runtime, target).last_error
