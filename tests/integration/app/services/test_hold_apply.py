"""Publishing with legal holds, end to end: SeaweedFS, the relay, workers and the sandbox."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import select

from app import outbox
from app.clients.remotes import Remotes
from app.db import utcnow
from app.models import HoldTransition, Intent, IntentEvent
from app.runner import Runner
from app.services import datasets, hold_apply, hold_release, hold_slots, hold_verify, versions
from tests.fixtures.pipeline import wait_until
from tests.fixtures.s3 import Buckets, WeedMini, start_seaweedfs
from tests.support.holds import hold_states, legal_hold, steps, uploads
from tests.support.lifecycle import (
    blob,
    call,
    create,
    doi_state,
    job_status,
    metadata,
    version_doi,
)

HANDLERS = {"verify_blobs": hold_verify.HANDLER, "apply_hold": hold_apply.HANDLER}


def uploads_free(count: int) -> list[dict]:
    """Blob references that exist nowhere (no S3 in the test)."""
    return [blob(n) for n in range(1, count + 1)]


def _s3_calls_of(runtime) -> list[dict]:
    with runtime.sessions() as session:
        events = session.scalars(select(IntentEvent).where(IntentEvent.kind == "call"))
        return [e.data for e in events if e.data.get("service") == "s3"]


def _s3_calls(pipeline) -> list[dict]:
    return _s3_calls_of(pipeline.runtime)


def _publish(runtime, dataset: str, version: str, blobs: list[dict]) -> int:
    _, job = call(
        runtime, versions.publish_version, dataset, name=version, metadata=metadata(), blobs=blobs
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
        last_on = max(t.at for t in session.scalars(select(HoldTransition)) if t.to_state == "on")
    assert datetime.fromisoformat(publish["time"]) > last_on


def test_a_shared_blob_is_held_once_and_released_when_no_published_version_references_it(
    make_pipeline, s3_settings, buckets
) -> None:
    bucket, s3 = s3_settings["S3_BUCKET"], buckets.s3
    shared, only_v1 = uploads(s3, bucket, 2)
    pipeline = make_pipeline(**s3_settings)
    create(pipeline.runtime, "shared")
    first = _publish(pipeline.runtime, "shared", "v1", [shared, only_v1])
    wait_until(lambda: job_status(pipeline.runtime, first) == "finished")
    second = _publish(pipeline.runtime, "shared", "v2", [shared])
    wait_until(lambda: job_status(pipeline.runtime, second) == "finished")
    # Held once: one hold row, one PUT ON for the shared blob
    puts = [c for c in _s3_calls(pipeline) if c["operation"] == "PutObjectLegalHold"]
    assert sorted(c["target"].split("/", 1)[1].split("@")[0] for c in puts) == sorted(
        [shared["key"], only_v1["key"]]
    )
    # When v1 is deleted, only the blob no published version references is released
    call(pipeline.runtime, versions.delete_version, "shared", "v1")
    wait_until(lambda: hold_states(pipeline.runtime)[only_v1["key"]] == "released")
    assert legal_hold(s3, bucket, only_v1) == "OFF"
    assert legal_hold(s3, bucket, shared) == "ON"
    assert hold_states(pipeline.runtime)[shared["key"]] == "on"
    # When v2 goes too, the shared one is released
    call(pipeline.runtime, versions.delete_version, "shared", "v2")
    wait_until(lambda: hold_states(pipeline.runtime)[shared["key"]] == "released")
    assert legal_hold(s3, bucket, shared) == "OFF"


def test_without_s3_no_s3_call_is_made_and_the_dois_proceed(make_pipeline) -> None:
    pipeline = make_pipeline()
    create(pipeline.runtime, "nos3")
    job = _publish(pipeline.runtime, "nos3", "v1", uploads_free(2))
    wait_until(lambda: job_status(pipeline.runtime, job) == "finished")
    assert doi_state(pipeline.runtime, version_doi("nos3", "v1")) == "findable"
    recorded = steps(pipeline.runtime, job)
    for name in ("verify_blobs", "legal_holds"):
        assert recorded[name]["status"] == "skipped"
        assert "not protected" in recorded[name]["error"]
    assert hold_states(pipeline.runtime) == {}
    assert _s3_calls(pipeline) == []


def test_hold_concurrency_slots_all_taken_snooze_the_batch_without_an_s3_call(
    make_runtime, s3_settings, buckets, redis_url
) -> None:
    # Given HOLD_CONCURRENCY=1, its one slot taken by someone else (in Redis)
    runtime = make_runtime(**s3_settings, HOLD_CONCURRENCY="1", REDIS_URL=redis_url)
    remotes = Remotes(runtime.settings)
    token = remotes.hold_slots.acquire(timeout=0)
    assert token is not None
    create(runtime, "slots")
    [blob] = uploads(buckets.s3, s3_settings["S3_BUCKET"], 1)
    _publish(runtime, "slots", "v1", [blob])
    with runtime.sessions.begin() as session:
        claims = outbox.claim_due(session, limit=10, lease_seconds=30)
    [claim] = [c for c in claims if c.topic == "verify_blobs"]
    # When the verification is delivered, it waits for a slot, then snoozes
    hold_slots.WAIT_SECONDS, saved = 0.2, hold_slots.WAIT_SECONDS
    try:
        Runner(runtime, remotes).run(HANDLERS[claim.topic], claim.intent_id, claim.lease_token)
    finally:
        hold_slots.WAIT_SECONDS = saved
    # Then no S3 call was made and no attempt spent; with the slot free it goes through
    with runtime.sessions() as session:
        intent = session.get(Intent, claim.intent_id)
        assert (intent.status, intent.attempts) == ("pending", 0)
        assert "HOLD_CONCURRENCY" in intent.last_error
    assert _s3_calls_of(runtime) == []
    remotes.hold_slots.release(token)
    with runtime.sessions.begin() as session:
        session.get(Intent, claim.intent_id).available_at = utcnow()
        [claim] = outbox.claim_due(session, limit=10, lease_seconds=30)
    Runner(runtime, remotes).run(HANDLERS[claim.topic], claim.intent_id, claim.lease_token)
    # (a HEAD only: verification does not need the hold, its own step sets it)
    assert [c["operation"] for c in _s3_calls_of(runtime)] == ["HeadObject"]
    remotes.close()


@pytest.fixture
def own_seaweedfs() -> Iterator[WeedMini]:
    """A SeaweedFS of this test's own, so killing it harms no other test."""
    server = start_seaweedfs()
    try:
        yield server
    finally:
        server.stop()


def test_seaweedfs_killed_while_holds_are_applied_every_hold_ends_on_and_none_early(
    make_pipeline, own_seaweedfs: WeedMini
) -> None:
    # Given forty blobs being held two per intent on a SeaweedFS we can kill
    endpoint = own_seaweedfs.endpoint
    made = Buckets(endpoint)
    bucket = made.locked()
    blobs = uploads(made.s3, bucket, 40)
    pipeline = make_pipeline(
        S3_BUCKET=bucket,
        S3_ENDPOINT_URL=endpoint.url,
        AWS_ACCESS_KEY_ID=endpoint.access_key,
        AWS_SECRET_ACCESS_KEY=endpoint.secret_key,
        HOLD_BATCH_SIZE="2",
        DOI_MAX_ATTEMPTS="100",  # the outage outlasts the tests' usual three attempts
        RETRY_CAP_SECONDS="1",
    )
    create(pipeline.runtime, "outage")
    job = _publish(pipeline.runtime, "outage", "v1", blobs)

    # When SeaweedFS is SIGKILLed as soon as the first holds are on, and restarted later
    wait_until(lambda: "on" in hold_states(pipeline.runtime).values(), timeout=30)
    assert own_seaweedfs.process is not None
    os.killpg(own_seaweedfs.process.pid, signal.SIGKILL)
    own_seaweedfs.process.wait()
    time.sleep(2)
    held_while_down = {k for k, state in hold_states(pipeline.runtime).items() if state == "on"}
    assert doi_state(pipeline.runtime, version_doi("outage", "v1")) == "pending"
    own_seaweedfs.start()

    # Then every hold it recorded on while S3 was down is really on, and all end on
    s3 = endpoint.client()
    by_key = {b["key"]: b for b in blobs}
    assert {legal_hold(s3, bucket, by_key[k]) for k in held_while_down} == {"ON"}
    wait_until(lambda: job_status(pipeline.runtime, job) == "finished", timeout=60)
    assert [legal_hold(s3, bucket, b) for b in blobs] == ["ON"] * 40
    assert set(hold_states(pipeline.runtime).values()) == {"on"}
    assert doi_state(pipeline.runtime, version_doi("outage", "v1")) == "findable"
    # And the outage was seen: some hold call failed and was retried
    failed = [c for c in _s3_calls(pipeline) if c["status"] is None]
    assert failed, "no S3 call failed: SeaweedFS was killed too late"
    pipeline.stop()
    made.remove_all()


def test_a_version_unembargoed_before_its_holds_are_on_is_findable_after_them(
    make_pipeline, s3_settings, buckets
) -> None:
    # Given a version published under embargo, unembargoed before any hold was applied
    blobs = uploads(buckets.s3, s3_settings["S3_BUCKET"], 2)
    pipeline = make_pipeline(start=False, **s3_settings)
    create(pipeline.runtime, "later", embargoed=True)
    job = _publish(pipeline.runtime, "later", "v1", blobs)
    call(pipeline.runtime, datasets.unembargo, "later")
    # When the workers run
    pipeline.start()
    # Then the holds come on and the version DOI (no job step follows it) becomes findable
    wait_until(lambda: doi_state(pipeline.runtime, version_doi("later", "v1")) == "findable")
    assert set(hold_states(pipeline.runtime).values()) == {"on"}
    assert job_status(pipeline.runtime, job) == "finished"


def test_a_version_deleted_before_its_holds_are_on_ends_its_job_and_holds_nothing(
    make_pipeline, s3_settings, buckets
) -> None:
    bucket, s3 = s3_settings["S3_BUCKET"], buckets.s3
    blobs = uploads(s3, bucket, 2)
    pipeline = make_pipeline(start=False, **s3_settings)
    create(pipeline.runtime, "brief")
    job = _publish(pipeline.runtime, "brief", "v1", blobs)
    call(pipeline.runtime, versions.delete_version, "brief", "v1")
    pipeline.start()
    wait_until(lambda: job_status(pipeline.runtime, job) == "finished")
    wait_until(lambda: set(hold_states(pipeline.runtime).values()) == {"released"})
    assert steps(pipeline.runtime, job)["legal_holds"]["status"] == "skipped"
    assert {legal_hold(s3, bucket, b) for b in blobs} <= {"OFF", "NONE"}


def test_a_hold_the_backdoor_released_during_the_publication_settles_its_job(
    make_pipeline, s3_settings, buckets
) -> None:
    bucket, s3 = s3_settings["S3_BUCKET"], buckets.s3
    kept, released = uploads(s3, bucket, 2)
    pipeline = make_pipeline(start=False, **s3_settings)
    create(pipeline.runtime, "backdoor")
    job = _publish(pipeline.runtime, "backdoor", "v1", [kept, released])
    call(
        pipeline.runtime,
        hold_release.release,
        released["key"],
        released["version_id"],
        reason="legal request",
        actor="test",
    )
    pipeline.start()
    wait_until(lambda: job_status(pipeline.runtime, job) == "finished")
    assert hold_states(pipeline.runtime) == {kept["key"]: "on", released["key"]: "released"}
    assert (legal_hold(s3, bucket, kept), legal_hold(s3, bucket, released)) == ("ON", "OFF")
    assert steps(pipeline.runtime, job)["legal_holds"]["done"] == 2
