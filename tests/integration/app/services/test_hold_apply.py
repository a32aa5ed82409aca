"""Publishing with legal holds, end to end: SeaweedFS, the relay, workers and the sandbox."""

from __future__ import annotations

from datetime import datetime

from app.services import datasets
from tests.fixtures.pipeline import wait_until
from tests.support.holds import hold_states, legal_hold, steps, uploads
from tests.support.lifecycle import call, create, doi_state, job_status, metadata, version_doi


def _publish(runtime, dataset: str, version: str, blobs: list[dict]) -> int:
    _, job = call(
        runtime, datasets.publish_version, dataset, name=version, metadata=metadata(), blobs=blobs
    )
    return int(job.id)


def test_publishing_holds_exactly_its_blobs_before_the_doi_is_findable(
    make_pipeline, s3_settings, buckets
) -> None:
    # Given three uploaded blob versions and one that is not published
    bucket, s3 = s3_settings["S3_BUCKET"], buckets.s3
    blobs = uploads(s3, bucket, 4)
    pipeline = make_pipeline(**s3_settings)
    create(pipeline.runtime, "held")

    # When a version referencing three of them is published
    job = _publish(pipeline.runtime, "held", "v1", blobs[:3])

    # Then exactly those three object versions are held, and the DOI is findable
    wait_until(lambda: job_status(pipeline.runtime, job) == "finished")
    assert [legal_hold(s3, bucket, b) for b in blobs] == ["ON", "ON", "ON", "NONE"]
    assert doi_state(pipeline.runtime, version_doi("held", "v1")) == "findable"
    assert set(hold_states(pipeline.runtime).values()) == {"on"}
    assert {name: s["status"] for name, s in steps(pipeline.runtime, job).items()} == {
        "verify_blobs": "done",
        "legal_holds": "done",
        "version_doi": "done",
        "concept_doi": "done",
    }
    assert steps(pipeline.runtime, job)["legal_holds"]["done"] == 3

    # And DataCite saw no publish before the last hold was confirmed
    publish = next(
        r
        for r in pipeline.datacite_requests()
        if r["doi"] == version_doi("held", "v1") and r.get("event") == "publish"
    )
    with pipeline.runtime.sessions() as session:
        from sqlalchemy import select

        from app.models import HoldTransition

        last_on = max(t.at for t in session.scalars(select(HoldTransition)) if t.to_state == "on")
    assert datetime.fromisoformat(publish["time"]) > last_on
