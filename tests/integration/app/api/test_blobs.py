"""DELETE /api/blobs and the release backdoor, against SeaweedFS (what S3 holds read with boto3)."""

from __future__ import annotations

from urllib.parse import quote

from sqlalchemy import select

from app.clients.storage import StorageClient
from app.models import AuditLog, Blob
from tests.fixtures.pipeline import wait_until
from tests.support.api import assert_error, metadata
from tests.support.holds import hold_states, legal_hold, uploads
from tests.support.lifecycle import job_status


def _versions(s3, bucket: str) -> tuple[list[str], list[str]]:
    listing = s3.list_object_versions(Bucket=bucket)
    return (
        [v["VersionId"] for v in listing.get("Versions", [])],
        [m["VersionId"] for m in listing.get("DeleteMarkers", [])],
    )


def _delete(client, headers, blob: dict):
    path = f"/api/blobs/{quote(blob['key'])}?version_id={quote(blob['version_id'])}"
    return client.delete(path, headers=headers)


def _publish(client, headers, dataset: str, version: str, blobs: list[dict]) -> int:
    client.post("/api/datasets", json={"id": dataset, "metadata": metadata()}, headers=headers)
    body = {"version": version, "metadata": metadata(), "blobs": blobs}
    answer = client.post(f"/api/datasets/{dataset}/versions", json=body, headers=headers)
    assert answer.status_code == 202, answer.get_json()
    return int(answer.get_json()["job"]["id"])


def test_deleting_a_published_blob_is_refused_and_an_unpublished_one_is_deleted(
    make_pipeline, make_client, bearer, s3_settings, buckets
) -> None:
    # Given a published, held blob version and an uploaded one nobody published
    bucket, s3 = s3_settings["S3_BUCKET"], buckets.s3
    published, loose = uploads(s3, bucket, 2)
    pipeline = make_pipeline(**s3_settings)
    client, writer = make_client(pipeline.runtime), bearer("write")
    job = _publish(client, writer, "ds1", "1.0", [published])
    wait_until(lambda: job_status(pipeline.runtime, job) == "finished")
    # (an unpublished blob doiflow knows of: recorded, its version then deleted)
    _publish(client, writer, "ds2", "1.0", [loose])
    wait_until(lambda: hold_states(pipeline.runtime)[loose["key"]] == "on")
    assert client.delete("/api/datasets/ds2/versions/1.0", headers=writer).status_code == 202
    wait_until(lambda: hold_states(pipeline.runtime)[loose["key"]] == "released")

    # When the archive deletes the published one: 409, and S3 has no delete marker
    error = assert_error(_delete(client, writer, published), 409, "conflict")
    assert "ds1 1.0" in error["message"]
    versions, markers = _versions(s3, bucket)
    assert (sorted(versions), markers) == (
        sorted([published["version_id"], loose["version_id"]]),
        [],
    )
    assert legal_hold(s3, bucket, published) == "ON"

    # When it deletes the unpublished one: 204, and that version is gone (no marker)
    answer = _delete(client, writer, loose)
    assert answer.status_code == 204, answer.get_data(as_text=True)
    assert _versions(s3, bucket) == ([published["version_id"]], [])

    # And a deleted blob version cannot be published again
    body = {"version": "2.0", "metadata": metadata(), "blobs": [loose]}
    refused = client.post("/api/datasets/ds1/versions", json=body, headers=writer)
    assert "was deleted" in assert_error(refused, 409)["message"]


def test_a_delete_s3_refuses_is_a_409_and_a_health_problem(
    make_runtime, make_client, bearer, s3_settings, buckets, runtime
) -> None:
    # Given a blob version doiflow knows as unpublished and unheld, held in S3 out of band
    bucket, s3 = s3_settings["S3_BUCKET"], buckets.s3
    [blob] = uploads(s3, bucket, 1)
    with runtime.sessions.begin() as session:
        session.add(Blob(**blob))
    s3.put_object_legal_hold(
        Bucket=bucket, Key=blob["key"], VersionId=blob["version_id"], LegalHold={"Status": "ON"}
    )
    client = make_client(make_runtime(**s3_settings))
    # When it is deleted through the API: S3 says AccessDenied, the answer says so
    error = assert_error(_delete(client, bearer("write"), blob), 409, "held_in_s3")
    assert "held out of band" in error["message"]
    assert _versions(s3, bucket) == ([blob["version_id"]], [])
    # And the health check reports it
    health = client.get("/api/health", headers=bearer("read")).get_json()
    assert [p["check"] for p in health["problems"]] == ["blob_problems"]


def test_deleting_needs_a_version_id_and_a_known_blob(
    make_runtime, make_client, bearer, s3_settings
) -> None:
    client = make_client(make_runtime(**s3_settings))
    writer = bearer("write")
    assert_error(client.delete("/api/blobs/a/b.csv", headers=writer), 400, "invalid_input")
    assert_error(client.delete("/api/blobs/a/b.csv?version_id=v1", headers=writer), 404)


def test_the_backdoor_needs_an_admin_token_and_a_reason_and_is_audited(
    make_pipeline, make_client, bearer, s3_settings, buckets
) -> None:
    bucket, s3 = s3_settings["S3_BUCKET"], buckets.s3
    [blob] = uploads(s3, bucket, 1)
    pipeline = make_pipeline(**s3_settings)
    client = make_client(pipeline.runtime)
    job = _publish(client, bearer("write"), "ds1", "1.0", [blob])
    wait_until(lambda: job_status(pipeline.runtime, job) == "finished")
    body = {"key": blob["key"], "version_id": blob["version_id"], "reason": "court order 17"}
    # An operator may not; an admin must give a reason
    assert_error(client.post("/api/holds/release", json=body, headers=bearer("operator")), 403)
    no_reason = {**body, "reason": " "}
    assert_error(client.post("/api/holds/release", json=no_reason, headers=bearer("admin")), 400)
    answer = client.post("/api/holds/release", json=body, headers=bearer("admin"))
    assert answer.status_code == 202, answer.get_json()
    assert (answer.get_json()["target"], answer.get_json()["release_reason"]) == (
        "off",
        "court order 17",
    )
    wait_until(lambda: legal_hold(s3, bucket, blob) == "OFF")
    wait_until(lambda: hold_states(pipeline.runtime) == {blob["key"]: "released"})
    with pipeline.runtime.sessions() as session:
        [entry] = session.scalars(select(AuditLog))
        assert (entry.action, entry.reason) == ("release_hold", "court order 17")
        assert entry.actor == "API token 'test token'"
        assert entry.target == f"{blob['key']}@{blob['version_id']}"


def test_no_transaction_is_open_while_the_blob_delete_calls_s3(
    make_runtime, make_client, bearer, s3_settings, buckets, runtime, monkeypatch
) -> None:
    bucket, s3 = s3_settings["S3_BUCKET"], buckets.s3
    [blob] = uploads(s3, bucket, 1)
    with runtime.sessions.begin() as session:
        session.add(Blob(**blob))
    web = make_runtime(**s3_settings)
    client = make_client(web)
    open_during_call: list[int] = []
    original = StorageClient.delete_version

    def watched(self, key, version_id):
        open_during_call.append(web.engine.pool.checkedout())
        return original(self, key, version_id)

    monkeypatch.setattr(StorageClient, "delete_version", watched)
    assert _delete(client, bearer("write"), blob).status_code == 204
    assert open_during_call == [0]  # no connection (so no transaction) held across the call
