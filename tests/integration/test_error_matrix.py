"""DataCite's answers and what they do to a DOI (DESIGN "DataCite errors"), end to end."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from app.models import Intent
from app.services import datasets
from tests.fixtures.pipeline import wait_until
from tests.integration.lifecycle_helpers import (
    call,
    concept,
    count_rows,
    create,
    doi_row,
    doi_state,
    open_intents,
    publish,
    version_doi,
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


def test_timeout_after_commit_converges_without_a_duplicate_create_error(make_pipeline) -> None:
    pipeline = make_pipeline()
    pipeline.inject({"method": "PUT", "times": 1, "action": "timeout_after_commit", "seconds": 3})
    create(pipeline.runtime, "applied")
    wait_until(lambda: doi_state(pipeline.runtime, concept("applied")) == "draft")
    statuses = [r["status"] for r in _puts(pipeline, concept("applied"))]
    # The first PUT created it (201, answer lost); the retry updates it (200), never 422.
    assert statuses[-1] == 200
    assert 422 not in statuses
    row = doi_row(pipeline.runtime, concept("applied"))
    assert [h.to_state for h in row.history] == ["draft"]


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
    call(pipeline.runtime, datasets.delete_version, "hidden", "v1")
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
