"""Publish jobs: steps close as their DOIs settle, and the job settles once, even in a race."""

from __future__ import annotations

from app.models import Job
from tests.fixtures.pipeline import wait_until
from tests.support.lifecycle import (
    concept,
    create,
    doi_state,
    job_status,
    publish,
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
    assert _steps(pipeline.runtime, job) == {
        "verify_blobs": "skipped",  # no S3 configured here
        "legal_holds": "skipped",
        "version_doi": "done",
        "concept_doi": "done",
    }
