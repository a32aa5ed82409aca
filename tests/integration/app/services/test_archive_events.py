"""Archive events noticed at flush time: which changes become `archive_webhook` intents."""

from __future__ import annotations

from sqlalchemy import select

from app.models import Blob, Doi, Intent, LegalHold
from app.states.doi import apply as apply_doi
from app.states.hold import apply as apply_hold
from tests.support.lifecycle import create, publish

WEBHOOK = {"ARCHIVE_WEBHOOK_URL": "http://127.0.0.1:9/hook", "ARCHIVE_WEBHOOK_SECRET": "s"}


def _events(runtime) -> list[dict]:
    with runtime.sessions() as session:
        rows = session.scalars(
            select(Intent).where(Intent.topic == "archive_webhook").order_by(Intent.id)
        )
        return [{"key": r.key, "queue": r.queue, **r.payload["event"]} for r in rows]


def test_a_failed_hold_is_an_event_for_each_dataset_that_publishes_its_blob(make_runtime) -> None:
    # Given one blob published by two datasets, its hold pending
    runtime = make_runtime(datacite=False, **WEBHOOK)
    for name in ("left", "right"):
        create(runtime, name)
        publish(runtime, name, "v1")  # the same blob record (tests.support.lifecycle.blob)
    with runtime.sessions.begin() as session:
        blob = session.scalars(select(Blob)).one()
        session.add(LegalHold(blob_id=blob.id))

    # When the hold fails
    with runtime.sessions.begin() as session:
        hold = session.scalars(select(LegalHold)).one()
        hold.last_error = "AccessDenied"
        apply_hold(hold, "fail", detail="S3 refused")

    # Then each dataset's stream has one hold.failed event, on the default queue
    failed = [e for e in _events(runtime) if e["type"] == "hold.failed"]
    assert [(e["dataset"], e["key"], e["queue"]) for e in failed] == [
        ("left", "webhook:left", "default"),
        ("right", "webhook:right", "default"),
    ]
    assert failed[0]["data"] == {"key": "blobs/001", "version_id": "v1", "error": "AccessDenied"}
    assert failed[0]["id"] != failed[1]["id"]


def test_a_doi_change_that_is_neither_its_target_nor_a_failure_is_no_event(
    make_runtime,
) -> None:
    # Given a concept DOI headed for findable, still pending
    runtime = make_runtime(**WEBHOOK)
    create(runtime, "quiet")
    with runtime.sessions.begin() as session:
        doi = session.scalars(select(Doi)).one()
        doi.target = "findable"

    # When DataCite confirms a draft: not the target yet, no event
    with runtime.sessions.begin() as session:
        doi = session.scalars(select(Doi)).one()
        apply_doi(doi, "confirm_draft", publishing_allowed=True)
    assert _events(runtime) == []

    # When it is published: the target, one event
    with runtime.sessions.begin() as session:
        doi = session.scalars(select(Doi)).one()
        apply_doi(doi, "confirm_findable", publishing_allowed=True)
    [event] = _events(runtime)
    assert (event["type"], event["data"]["state"], event["subject"]) == (
        "doi.reached_target",
        "findable",
        f"doi:{doi.id}",
    )


def test_a_job_created_finished_is_an_event_too(make_runtime) -> None:
    # Without DataCite or S3 a publish job has nothing to wait for: it is born finished
    runtime = make_runtime(datacite=False, **WEBHOOK)
    create(runtime, "instant")
    job_id = publish(runtime, "instant", "v1")
    [event] = _events(runtime)
    assert (event["type"], event["subject"], event["data"]["version"]) == (
        "job.finished",
        f"job:{job_id}",
        "v1",
    )
