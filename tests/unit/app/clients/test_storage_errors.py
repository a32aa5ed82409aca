"""The storage client's error table, pinned on hand-built botocore errors (a pure function).

Every row here is also seen from a real S3 server in
tests/integration/app/clients/test_storage.py, except the answers SeaweedFS never gives.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    FlexibleChecksumError,
    NoCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from app.clients.errors import (
    BucketConfigurationError,
    HeldError,
    MissingObjectError,
    PermanentError,
    RemoteError,
    ThrottledError,
    TransientError,
)
from app.clients.storage import hold_absent, sha256_hex, translate_error

TARGET = "blobs/datasets/ds1/data.csv@v1"


def client_error(
    operation: str, status: int, code: str | None = None, headers: dict | None = None
) -> ClientError:
    """What botocore raises; HEAD answers have no body, so their code is the status number."""
    error = {"Code": code or str(status), "Message": f"{code or status} from S3"}
    metadata = {"HTTPStatusCode": status, "HTTPHeaders": headers or {}}
    return ClientError({"Error": error, "ResponseMetadata": metadata}, operation)


@pytest.mark.parametrize(
    ("operation", "status", "code", "expected"),
    [
        # missing, whatever the server calls it
        ("HeadObject", 404, None, MissingObjectError),
        ("HeadObject", 405, None, MissingObjectError),  # AWS: a delete-marker version
        ("GetObjectLegalHold", 404, "NoSuchKey", MissingObjectError),
        ("GetObjectLegalHold", 404, "NoSuchVersion", MissingObjectError),
        ("PutObjectLegalHold", 404, "NoSuchKey", MissingObjectError),  # SeaweedFS, bad version
        ("PutObjectLegalHold", 404, "NoSuchVersion", MissingObjectError),
        ("PutObjectLegalHold", 405, "MethodNotAllowed", MissingObjectError),  # AWS: marker
        ("GetObject", 404, "NoSuchVersion", MissingObjectError),
        ("GetObject", 404, "NoSuchKey", MissingObjectError),
        # held
        ("DeleteObject", 403, "AccessDenied", HeldError),
        # configuration
        ("PutObjectLegalHold", 400, "InvalidRequest", BucketConfigurationError),
        ("GetObjectLegalHold", 400, "InvalidRequest", BucketConfigurationError),
        ("PutObjectLegalHold", 404, "NoSuchBucket", BucketConfigurationError),
        ("ListObjectVersions", 404, "NoSuchBucket", BucketConfigurationError),
        (
            "GetObjectLockConfiguration",
            404,
            "ObjectLockConfigurationNotFoundError",
            BucketConfigurationError,
        ),
        (
            "GetObjectLockConfiguration",
            404,
            "NoSuchObjectLockConfiguration",
            BucketConfigurationError,
        ),
        # throttled: never an attempt used up
        ("PutObjectLegalHold", 503, "SlowDown", ThrottledError),
        ("HeadObject", 503, None, ThrottledError),
        ("GetObjectLegalHold", 429, "TooManyRequests", ThrottledError),
        ("DeleteObject", 503, "ErrTooManyRequest", ThrottledError),  # SeaweedFS's breaker
        ("ListObjectVersions", 400, "Throttling", ThrottledError),
        # transient
        ("PutObjectLegalHold", 500, "InternalError", TransientError),
        ("HeadObject", 502, None, TransientError),
        ("DeleteObject", 400, "RequestTimeout", TransientError),
        ("GetObject", 408, None, TransientError),
        # permanent: the same request can never succeed
        ("HeadObject", 403, None, PermanentError),
        ("PutObjectLegalHold", 403, "SignatureDoesNotMatch", PermanentError),
        ("GetObjectLegalHold", 403, "InvalidAccessKeyId", PermanentError),
        ("PutObjectLegalHold", 403, "AccessDenied", PermanentError),  # only a delete means held
        ("DeleteObject", 403, "SignatureDoesNotMatch", PermanentError),
        ("HeadObject", 400, None, PermanentError),
        ("ListObjectVersions", 404, "NoSuchKey", PermanentError),  # not an object call
        ("ListObjectVersions", 400, "InvalidRequest", PermanentError),
    ],
)
def test_client_errors_translate_per_the_table(
    operation: str, status: int, code: str | None, expected: type[RemoteError]
) -> None:
    error = translate_error(operation, TARGET, client_error(operation, status, code))
    assert type(error) is expected
    assert error.status == status
    assert operation in str(error)
    assert TARGET in str(error)


def test_throttling_keeps_retry_after_when_s3_sends_one() -> None:
    exc = client_error("PutObjectLegalHold", 503, "SlowDown", {"retry-after": "7"})
    error = translate_error("PutObjectLegalHold", TARGET, exc)
    assert isinstance(error, ThrottledError)
    assert error.retry_after == 7.0
    plain = translate_error("PutObjectLegalHold", TARGET, client_error("X", 503, "SlowDown"))
    assert isinstance(plain, ThrottledError)
    assert plain.retry_after is None


def test_the_held_error_says_what_a_person_should_check() -> None:
    error = translate_error(
        "DeleteObject", TARGET, client_error("DeleteObject", 403, "AccessDenied")
    )
    assert "held" in str(error)
    assert "credentials" in str(error)  # AccessDenied can also be a missing permission


@pytest.mark.parametrize(
    ("exc", "expected", "timed_out"),
    [
        (ReadTimeoutError(endpoint_url="http://s3.test/b"), TransientError, True),
        (ConnectTimeoutError(endpoint_url="http://s3.test/b"), TransientError, False),
        (EndpointConnectionError(endpoint_url="http://s3.test/b"), TransientError, False),
        (ResponseStreamingError(error="reset"), TransientError, False),
        (NoCredentialsError(), PermanentError, None),
        (FlexibleChecksumError(error_msg="crc32 mismatch"), PermanentError, None),
    ],
)
def test_transport_errors_translate(
    exc: Exception, expected: type[RemoteError], timed_out: bool | None
) -> None:
    error = translate_error("PutObjectLegalHold", TARGET, exc)
    assert type(error) is expected
    if timed_out is not None:
        assert isinstance(error, TransientError)
        assert error.timed_out is timed_out  # after a read timeout the hold may be on


@pytest.mark.parametrize(
    ("status", "code", "absent"),
    [
        (404, "NoSuchObjectLegalHold", True),  # SeaweedFS: a hold never set
        (404, "NoSuchObjectLockConfiguration", True),
        (404, "ObjectLockConfigurationNotFoundError", True),
        (404, "NoSuchKey", False),
        (400, "InvalidRequest", False),
        (403, "AccessDenied", False),
    ],
)
def test_which_get_legal_hold_failures_mean_not_held(status: int, code: str, absent: bool) -> None:
    assert hold_absent(client_error("GetObjectLegalHold", status, code)) is absent


def test_hold_absent_is_false_for_transport_errors() -> None:
    assert hold_absent(EndpointConnectionError(endpoint_url="http://s3.test")) is False


def test_sha256_hex_converts_s3s_base64_and_refuses_what_is_not_a_whole_object_sha256() -> None:
    digest = hashlib.sha256(b"data").digest()
    encoded = base64.b64encode(digest).decode()
    assert sha256_hex({"ChecksumSHA256": encoded}) == digest.hex()
    assert sha256_hex({"ChecksumSHA256": encoded, "ChecksumType": "FULL_OBJECT"}) == digest.hex()
    assert sha256_hex({}) is None
    assert sha256_hex({"ChecksumSHA256": f"{encoded}-2"}) is None  # multipart, composite
    assert sha256_hex({"ChecksumSHA256": encoded, "ChecksumType": "COMPOSITE"}) is None
    assert sha256_hex({"ChecksumSHA256": "not base64!"}) is None
    assert sha256_hex({"ChecksumSHA256": base64.b64encode(b"short").decode()}) is None
