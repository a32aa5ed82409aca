"""Verifying published blobs against SeaweedFS: a mismatch fails the job, a re-drive ends it."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from app.models import IntentEvent
from app.services import job_redrive, versions
from tests.fixtures.pipeline import wait_until
from tests.support.holds import hold_states, legal_hold, steps, upload, uploads
from tests.support.lifecycle import (
    call,
    create,
    doi_state,
    job_status,
    metadata,
    open_intents,
    version_doi,
)


def _publish(runtime, dataset: str, version: str, blobs: list[dict]) -> int:
    _, job = call(
        runtime, versions.publish_version, dataset, name=version, metadata=metadata(), blobs=blobs
    )
    return int(job.id)


def test_a_wrong_size_or_sha256_fails_the_job_naming_the_blobs_and_a_fix_finishes_it(
    make_pipeline, make_client, bearer, s3_settings, buckets
) -> None:
    # Given three uploaded blobs, two of them recorded wrongly by the archive
    bucket, s3 = s3_settings["S3_BUCKET"], buckets.s3
    good, wrong_size, wrong_sha = uploads(s3, bucket, 3)
    recorded = [
        good,
        {**wrong_size, "size": wrong_size["size"] + 1},
        {**wrong_sha, "sha256": "0" * 64},
    ]
    pipeline = make_pipeline(**s3_settings)
    create(pipeline.runtime, "bad")

    # When the version is published
    job = _publish(pipeline.runtime, "bad", "v1", recorded)

    # Then the job fails, the step names both blobs and why, nothing is held, no DOI
    wait_until(lambda: job_status(pipeline.runtime, job) == "failed")
    verify = steps(pipeline.runtime, job)["verify_blobs"]
    assert verify["status"] == "failed"
    assert (verify["done"], verify["total"]) == (1, 3)
    assert {(p["key"], p["problem"].split(" ")[0]) for p in verify["problems"]} == {
        (wrong_size["key"], "size"),
        (wrong_sha["key"], "sha256"),
    }
    assert wrong_size["key"] in verify["error"]
    assert wrong_sha["key"] in verify["error"]
    assert [legal_hold(s3, bucket, b) for b in (good, wrong_size, wrong_sha)] == ["NONE"] * 3
    assert doi_state(pipeline.runtime, version_doi("bad", "v1")) == "pending"
    assert not [r for r in pipeline.datacite_requests() if r.get("event") == "publish"]
    client = make_client(pipeline.runtime)
    answer = client.get(f"/api/jobs/{job}", headers=bearer("read")).get_json()
    assert answer["status"] == "failed"
    assert answer["steps"][0]["problems"] == verify["problems"]

    # When the archive fixes the records and re-drives the job through the API
    answer = client.post(
        f"/api/jobs/{job}/retry",
        json={"blobs": [wrong_size, wrong_sha]},
        headers=bearer("operator"),
    )
    assert answer.status_code == 202, answer.get_json()

    # Then it continues where it stopped: only the two fixed blobs are verified again
    wait_until(lambda: job_status(pipeline.runtime, job) == "finished")
    assert [legal_hold(s3, bucket, b) for b in (good, wrong_size, wrong_sha)] == ["ON"] * 3
    assert doi_state(pipeline.runtime, version_doi("bad", "v1")) == "findable"
    heads = _s3_calls(pipeline, "HeadObject")
    assert sorted(heads) == sorted(
        [good["key"], wrong_size["key"], wrong_sha["key"], wrong_size["key"], wrong_sha["key"]]
    )


def test_a_blob_without_a_stored_checksum_is_hashed_as_it_streams(
    make_pipeline, s3_settings, buckets
) -> None:
    bucket, s3 = s3_settings["S3_BUCKET"], buckets.s3
    body = b"x" * (3 * 1024 * 1024 + 17)  # several chunks
    blob = upload(s3, bucket, "big/plain.bin", body, checksum=False)
    assert blob["sha256"] == hashlib.sha256(body).hexdigest()
    pipeline = make_pipeline(**s3_settings)
    create(pipeline.runtime, "plain")
    job = _publish(pipeline.runtime, "plain", "v1", [blob])
    wait_until(lambda: job_status(pipeline.runtime, job) == "finished")
    assert "GetObject" in [c["operation"] for c in _calls(pipeline)]
    assert hold_states(pipeline.runtime) == {"big/plain.bin": "on"}


def test_a_missing_object_version_fails_the_job_and_a_redrive_without_a_fix_fails_again(
    make_pipeline, s3_settings, buckets
) -> None:
    bucket, s3 = s3_settings["S3_BUCKET"], buckets.s3
    [blob] = uploads(s3, bucket, 1)
    s3.delete_object(Bucket=bucket, Key=blob["key"], VersionId=blob["version_id"])
    pipeline = make_pipeline(**s3_settings)
    create(pipeline.runtime, "gone")
    job = _publish(pipeline.runtime, "gone", "v1", [blob])
    wait_until(lambda: job_status(pipeline.runtime, job) == "failed")
    [problem] = steps(pipeline.runtime, job)["verify_blobs"]["problems"]
    assert "no such object version" in problem["problem"]
    call(pipeline.runtime, job_redrive.redrive, job, [])
    wait_until(lambda: job_status(pipeline.runtime, job) == "failed")
    wait_until(lambda: not open_intents(pipeline.runtime))
    assert steps(pipeline.runtime, job)["verify_blobs"]["status"] == "failed"


def _calls(pipeline) -> list[dict]:
    with pipeline.runtime.sessions() as session:
        events = session.scalars(select(IntentEvent).where(IntentEvent.kind == "call"))
        return [e.data for e in events if e.data.get("service") == "s3"]


def _s3_calls(pipeline, operation: str) -> list[str]:
    return [
        c["target"].split("/", 1)[1].split("@")[0]
        for c in _calls(pipeline)
        if c["operation"] == operation
    ]
