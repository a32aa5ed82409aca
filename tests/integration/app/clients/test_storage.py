"""The storage client against a real S3 server with Object Lock (SeaweedFS), never moto.

Every test works in buckets of its own. What S3 holds is checked with a plain boto3
client beside the one under test, so no claim rests on the client's own word.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from app.clients.errors import (
    BucketConfigurationError,
    HeldError,
    MissingObjectError,
    PermanentError,
    ThrottledError,
    TransientError,
)
from app.clients.storage import ObjectInfo, StorageClient
from app.config import load_settings
from tests.fixtures.s3 import Buckets, S3Endpoint

pytestmark = pytest.mark.integration

KEY = "datasets/ds1/data.csv"
BODY = b"station,temperature\n" + b"ny,21.5\n" * 1000


def client_for(endpoint: S3Endpoint, bucket: str, **options: Any) -> StorageClient:
    return StorageClient(
        bucket,
        endpoint_url=endpoint.url,
        region=endpoint.region,
        access_key_id=endpoint.access_key,
        secret_access_key=options.pop("secret_access_key", endpoint.secret_key),
        **options,
    )


@pytest.fixture
def storage(s3_endpoint: S3Endpoint, locked_bucket: str) -> Iterator[StorageClient]:
    with client_for(s3_endpoint, locked_bucket) as client:
        yield client


@pytest.fixture
def s3(buckets: Buckets) -> Any:
    """A plain boto3 client: how the tests upload and see what S3 really holds."""
    return buckets.s3


def upload(s3: Any, bucket: str, key: str = KEY, body: bytes = BODY, **options: Any) -> str:
    """Put one object version with its SHA-256 checksum; returns its version id."""
    options.setdefault("ChecksumAlgorithm", "SHA256")
    return s3.put_object(Bucket=bucket, Key=key, Body=body, **options)["VersionId"]


def versions_of(s3: Any, bucket: str) -> tuple[list[str], list[str]]:
    """(version ids, delete marker ids) S3 holds for the bucket."""
    listing = s3.list_object_versions(Bucket=bucket)
    return (
        [item["VersionId"] for item in listing.get("Versions", [])],
        [item["VersionId"] for item in listing.get("DeleteMarkers", [])],
    )


def test_head_reports_size_sha256_from_the_stored_checksum_and_no_hold(
    storage: StorageClient, s3: Any
) -> None:
    version_id = upload(s3, storage.bucket)

    info = storage.head(KEY, version_id)

    assert info == ObjectInfo(KEY, version_id, len(BODY), hashlib.sha256(BODY).hexdigest(), False)


def test_head_reports_no_sha256_when_s3_keeps_none_or_only_a_multipart_one(
    storage: StorageClient, s3: Any
) -> None:
    plain = upload(s3, storage.bucket, "plain.bin", ChecksumAlgorithm="CRC32")
    parts = [b"a" * (5 * 1024 * 1024), b"b" * 100]
    multipart = _multipart_upload(s3, storage.bucket, "multi.bin", parts)

    assert storage.head("plain.bin", plain).sha256 is None
    assert storage.head("multi.bin", multipart).sha256 is None
    assert storage.sha256_of("multi.bin", multipart) == hashlib.sha256(b"".join(parts)).hexdigest()


def test_put_hold_on_then_off_is_what_s3_reports(storage: StorageClient, s3: Any) -> None:
    version_id = upload(s3, storage.bucket)

    storage.put_hold(KEY, version_id, on=True)
    assert storage.hold_status(KEY, version_id) is True
    assert storage.head(KEY, version_id).held is True
    assert _legal_hold(s3, storage.bucket, version_id) == "ON"

    storage.put_hold(KEY, version_id, on=False)
    assert storage.hold_status(KEY, version_id) is False
    assert storage.head(KEY, version_id).held is False
    assert _legal_hold(s3, storage.bucket, version_id) == "OFF"


def test_a_hold_never_set_is_not_held(storage: StorageClient, s3: Any) -> None:
    version_id = upload(s3, storage.bucket)
    assert storage.hold_status(KEY, version_id) is False


def test_holds_and_heads_of_a_missing_key_or_version_are_missing(
    storage: StorageClient, s3: Any
) -> None:
    version_id = upload(s3, storage.bucket)
    other = upload(s3, storage.bucket, "other.csv")
    gone = upload(s3, storage.bucket)
    s3.delete_object(Bucket=storage.bucket, Key=KEY, VersionId=gone)

    # A key that never existed, a version of another key, a version deleted meanwhile.
    for key, missing in [("nothing-here", version_id), (KEY, other), (KEY, gone)]:
        with pytest.raises(MissingObjectError):
            storage.put_hold(key, missing, on=True)
        with pytest.raises(MissingObjectError):
            storage.hold_status(key, missing)
        with pytest.raises(MissingObjectError):
            storage.head(key, missing)
        with pytest.raises(MissingObjectError):
            storage.sha256_of(key, missing)


def test_head_of_a_delete_marker_is_missing(storage: StorageClient, s3: Any) -> None:
    upload(s3, storage.bucket)
    marker = s3.delete_object(Bucket=storage.bucket, Key=KEY)["VersionId"]

    with pytest.raises(MissingObjectError):
        storage.head(KEY, marker)


def test_delete_version_removes_exactly_that_version(storage: StorageClient, s3: Any) -> None:
    old = upload(s3, storage.bucket, body=b"old")
    new = upload(s3, storage.bucket, body=b"new")

    storage.delete_version(KEY, old)

    assert versions_of(s3, storage.bucket) == ([new], [])


def test_delete_version_of_a_held_version_is_refused_and_changes_nothing(
    storage: StorageClient, s3: Any
) -> None:
    version_id = upload(s3, storage.bucket)
    storage.put_hold(KEY, version_id, on=True)

    with pytest.raises(HeldError) as raised:
        storage.delete_version(KEY, version_id)

    assert raised.value.status == 403
    assert versions_of(s3, storage.bucket) == ([version_id], [])  # no delete marker either
    assert storage.head(KEY, version_id).held is True


def test_a_version_id_is_always_required(storage: StorageClient, s3: Any) -> None:
    upload(s3, storage.bucket)
    with pytest.raises(ValueError, match="version id"):
        storage.delete_version(KEY, "")
    assert versions_of(s3, storage.bucket)[1] == []  # no delete marker was added


def test_list_versions_reads_every_page(
    storage: StorageClient, s3: Any, caplog: pytest.LogCaptureFixture
) -> None:
    made = {(f"ds/{n}.csv", upload(s3, storage.bucket, f"ds/{n}.csv")) for n in range(3)}
    made |= {("ds/0.csv", upload(s3, storage.bucket, "ds/0.csv", body=b"v2"))}
    made.add(("ds/1.csv", s3.delete_object(Bucket=storage.bucket, Key="ds/1.csv")["VersionId"]))
    upload(s3, storage.bucket, "elsewhere.csv")
    caplog.set_level(logging.INFO, logger="doiflow.s3")

    listed = list(storage.list_versions("ds/", page_size=2))

    assert {(v.key, v.version_id) for v in listed} == made
    assert len(listed) == len(made)
    assert [v.key for v in listed if v.delete_marker] == ["ds/1.csv"]
    pages = [r for r in caplog.records if getattr(r, "operation", None) == "ListObjectVersions"]
    assert len(pages) == 3


def test_check_bucket_accepts_an_object_lock_bucket(storage: StorageClient) -> None:
    storage.check_bucket()


@pytest.mark.parametrize("versioned", [False, True])
def test_check_bucket_refuses_a_bucket_without_object_lock(
    s3_endpoint: S3Endpoint, buckets: Buckets, versioned: bool
) -> None:
    with client_for(s3_endpoint, buckets.unlocked(versioned=versioned)) as client:
        with pytest.raises(BucketConfigurationError, match="no Object Lock") as raised:
            client.check_bucket()
    assert client.bucket in str(raised.value)


def test_check_bucket_refuses_a_bucket_that_does_not_exist(s3_endpoint: S3Endpoint) -> None:
    with client_for(s3_endpoint, "doiflow-test-never-created") as client:
        with pytest.raises(BucketConfigurationError, match="does not exist"):
            client.check_bucket()


def test_a_hold_in_a_bucket_without_versioning_or_lock_is_a_configuration_error(
    s3_endpoint: S3Endpoint, buckets: Buckets, s3: Any
) -> None:
    bucket = buckets.unlocked()
    version_id = s3.put_object(Bucket=bucket, Key=KEY, Body=BODY).get("VersionId") or "null"

    with client_for(s3_endpoint, bucket) as client:
        with pytest.raises(BucketConfigurationError, match="no Object Lock"):
            client.put_hold(KEY, version_id, on=True)
        with pytest.raises(BucketConfigurationError, match="no Object Lock"):
            client.hold_status(KEY, version_id)  # S3 answers InvalidRequest


def test_no_hold_is_put_in_a_versioned_bucket_without_object_lock(
    s3_endpoint: S3Endpoint, buckets: Buckets, s3: Any
) -> None:
    # Some servers (SeaweedFS) would take this hold and still let the version be deleted.
    bucket = buckets.unlocked(versioned=True)
    version_id = upload(s3, bucket)

    with client_for(s3_endpoint, bucket) as client:
        with pytest.raises(BucketConfigurationError, match="no Object Lock"):
            client.put_hold(KEY, version_id, on=True)
    assert _legal_hold(s3, bucket, version_id) is None


def test_wrong_credentials_are_permanent(
    s3_endpoint: S3Endpoint, storage: StorageClient, s3: Any
) -> None:
    version_id = upload(s3, storage.bucket)
    with client_for(s3_endpoint, storage.bucket, secret_access_key="not-the-secret") as client:
        calls = [
            lambda: client.head(KEY, version_id),
            lambda: client.put_hold(KEY, version_id, on=True),
            lambda: client.hold_status(KEY, version_id),
            lambda: client.delete_version(KEY, version_id),
            lambda: list(client.list_versions()),
            client.check_bucket,
        ]
        for call in calls:
            with pytest.raises(PermanentError) as raised:
                call()
            assert type(raised.value) is PermanentError
            assert raised.value.status == 403
    assert _legal_hold(s3, storage.bucket, version_id) is None  # nothing was applied


def test_a_closed_port_is_transient_and_tried_once(locked_bucket: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again once the probe is
    client = StorageClient(
        locked_bucket,
        endpoint_url=f"http://127.0.0.1:{port}",
        access_key_id="doiflow",
        secret_access_key="unused",
        connect_timeout=1,
    )
    attempts = _count_attempts(client)

    with client, pytest.raises(TransientError) as raised:
        client.head(KEY, "some-version")

    assert raised.value.timed_out is False
    assert attempts == [1]  # botocore retried nothing behind our back


def test_a_server_that_never_answers_is_a_transient_timeout(locked_bucket: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:
        client = StorageClient(
            locked_bucket,
            endpoint_url=f"http://127.0.0.1:{silent.getsockname()[1]}",
            access_key_id="doiflow",
            secret_access_key="unused",
            read_timeout=0.5,
        )
        with client, pytest.raises(TransientError) as raised:
            client.delete_version(KEY, "some-version")

    assert raised.value.timed_out is True  # the delete may have been applied: re-read first
    assert not isinstance(raised.value, ThrottledError)


def test_sha256_of_reads_a_multi_chunk_object_in_pieces(storage: StorageClient, s3: Any) -> None:
    body = os.urandom(3 * 1024 * 1024 + 12345)
    version_id = upload(s3, storage.bucket, "big.bin", body, ChecksumAlgorithm="CRC32")

    assert storage.sha256_of("big.bin", version_id, chunk_size=64 * 1024) == (
        hashlib.sha256(body).hexdigest()
    )
    assert storage.sha256_of("big.bin", version_id) == hashlib.sha256(body).hexdigest()


def test_each_request_is_logged_once_and_never_with_credentials(
    storage: StorageClient, s3: Any, s3_endpoint: S3Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    version_id = upload(s3, storage.bucket)
    storage.check_bucket()  # done once, before the first hold
    caplog.set_level(logging.DEBUG)

    storage.put_hold(KEY, version_id, on=True)
    storage.hold_status(KEY, version_id)

    records = [r for r in caplog.records if r.name == "doiflow.s3"]
    assert [(r.operation, r.method, r.status) for r in records] == [  # type: ignore[attr-defined]
        ("PutObjectLegalHold", "PUT", 200),
        ("GetObjectLegalHold", "GET", 200),
    ]
    for record in records:
        assert (record.key, record.version_id) == (KEY, version_id)  # type: ignore[attr-defined]
        assert isinstance(record.elapsed_ms, int)  # type: ignore[attr-defined]
    shown = [repr(storage), caplog.text, *(str(vars(r)) for r in caplog.records)]
    assert not any(s3_endpoint.secret_key in text for text in shown)


def test_from_settings_reads_the_bucket_endpoint_and_aws_keys(
    s3_endpoint: S3Endpoint, locked_bucket: str
) -> None:
    settings = load_settings(
        {
            "DATABASE_URL": "postgresql://doiflow@127.0.0.1/unused",
            "S3_BUCKET": locked_bucket,
            "S3_ENDPOINT_URL": s3_endpoint.url,
            "AWS_ACCESS_KEY_ID": s3_endpoint.access_key,
            "AWS_SECRET_ACCESS_KEY": s3_endpoint.secret_key,
            "AWS_REGION": s3_endpoint.region,
        }
    )
    with StorageClient.from_settings(settings) as client:
        client.check_bucket()
        assert s3_endpoint.secret_key not in repr(client)


def _legal_hold(s3: Any, bucket: str, version_id: str) -> str | None:
    """The hold status boto3 reads directly, None when S3 says none was ever set."""
    try:
        answer = s3.get_object_legal_hold(Bucket=bucket, Key=KEY, VersionId=version_id)
    except s3.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] == "NoSuchObjectLegalHold":
            return None
        raise
    return answer["LegalHold"]["Status"]


def _multipart_upload(s3: Any, bucket: str, key: str, parts: list[bytes]) -> str:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="SHA256")[
        "UploadId"
    ]
    done = []
    for number, body in enumerate(parts, start=1):
        answer = s3.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=body,
            ChecksumAlgorithm="SHA256",
        )
        done.append(
            {
                "PartNumber": number,
                "ETag": answer["ETag"],
                "ChecksumSHA256": answer["ChecksumSHA256"],
            }
        )
    return s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": done}
    )["VersionId"]


def _count_attempts(client: StorageClient) -> list[int]:
    """How many HTTP attempts botocore makes per call (the one list entry counts them)."""
    attempts = [0]

    def count(**_: object) -> None:
        attempts[0] += 1

    client._s3.meta.events.register("before-send.s3", count)
    return attempts
