"""The whole DOI lifecycle over real processes: web, relay, doi-worker and the sandbox."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import KERNEL4, Stack, concept_doi, version_doi
from tests.e2e.harness import json_of


@pytest.fixture(scope="module")
def e2e_overrides() -> dict[str, str]:
    """Publishing on: versions become findable, deleted ones are hidden."""
    return {"DOI_PUBLISH": "true"}


def test_create_publish_and_delete_a_version(stack: Stack) -> None:
    # Given every process of the Procfile's DOI path is running
    stack.start_relay()
    stack.start_worker()
    api, sandbox = stack.api, stack.sandbox
    concept, version = concept_doi("happy"), version_doi("happy", "1.0")

    # When the archive creates a dataset
    created = api.create_dataset("happy")

    # Then its concept DOI is recorded at once and becomes a draft at DataCite
    assert created["concept_doi"]["doi"] == concept
    assert created["concept_doi"]["target"] == "draft"
    api.wait_for_state(concept, "draft")
    sandbox.wait_for_state(concept, "draft")

    # When a version is published
    answer = api.call(
        "POST",
        "/api/datasets/happy/versions",
        json={"version": "1.0", "metadata": KERNEL4, "blobs": []},
    )
    published = json_of(answer, 202)
    assert published["version"]["doi"]["doi"] == version
    assert published["job"]["status"] == "in_progress"

    # Then the version DOI and the concept DOI are findable, on both sides, and the job done
    api.wait_for_state(version, "findable")
    api.wait_for_state(concept, "findable")
    job = json_of(api.call("GET", f"/api/jobs/{published['job']['id']}"), 200)
    assert job["status"] == "finished", job
    sandbox.wait_for_state(version, "findable")
    sandbox.wait_for_state(concept, "findable")

    # When the version is deleted
    json_of(api.call("DELETE", "/api/datasets/happy/versions/1.0"), 202)

    # Then its DOI is hidden (DataCite's "registered"), never deleted; with no version
    # left the concept DOI is hidden too
    version_body = api.wait_for_state(version, "registered")
    concept_body = api.wait_for_state(concept, "registered")
    sandbox.wait_for_state(version, "registered")
    sandbox.wait_for_state(concept, "registered")

    # And every DataCite call succeeded, each state confirmed exactly once
    for body, states in (
        (version_body, ["findable", "registered"]),
        (concept_body, ["draft", "findable", "registered"]),
    ):
        assert [e["to"] for e in body["history"] if e["event"].startswith("confirm_")] == states
    calls = sandbox.requests()
    assert calls, "the sandbox saw no request"
    assert all(c["status"] is not None and 200 <= c["status"] < 300 for c in calls), calls
    deletes = [c for c in calls if c["method"] == "DELETE"]
    assert not deletes, "a findable DOI must be hidden, never deleted"
    assert [c["event"] for c in sandbox.requests(version, "PUT")] == ["publish", "hide"]
