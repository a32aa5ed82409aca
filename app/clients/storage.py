"""S3 client for published blobs and their legal holds: the only module that imports boto3.

Every botocore outcome is translated here into a small frozen dataclass or one of the
errors in `app.clients.errors`, so nothing above this module sees boto3 or botocore:

- MissingObjectError: NoSuchKey, NoSuchVersion, MethodNotAllowed (a delete marker);
  a bare 404 or 405 on HEAD.
- HeldError: AccessDenied on DeleteObject.
- BucketConfigurationError: NoSuchBucket; InvalidRequest on a legal-hold call; no
  Object Lock configuration.
- not held (no error): NoSuchObjectLegalHold, NoSuchObjectLockConfiguration,
  ObjectLockConfigurationNotFoundError or an empty answer to GetObjectLegalHold.
- ThrottledError: 429, 503 (SlowDown, SeaweedFS's ErrTooManyRequest, ...).
- TransientError: other 5xx, 408, RequestTimeout, timeouts, connection errors.
- PermanentError: other 4xx (SignatureDoesNotMatch, InvalidAccessKeyId, AccessDenied...).

botocore retries nothing (one attempt per call), so throttling reaches the caller, and
every request is logged once through "doiflow.s3", never with credentials.

What SeaweedFS 4.48, the test server, answers where AWS differs; the client relies on
none of it:
- HEAD of a missing key, a missing version, a delete-marker version or a missing
  bucket: a bare 404 (AWS answers 405 for a delete marker).
- Legal-hold calls on a missing version: NoSuchKey (AWS: NoSuchVersion); GetObject
  says NoSuchVersion. PutObjectLegalHold without a VersionId on a missing key: 500.
- A hold can be put on a delete marker, so check a version with `head()` first.
- In a versioned bucket without Object Lock a hold is accepted and read back ON, yet
  the version can still be deleted: `put_hold()` runs `check_bucket()` before its first
  hold. (Without versioning it answers InvalidRequest, like AWS.)
- A hold never set: NoSuchObjectLegalHold (moto answers 200 `{}`).
- Setting a hold rewrites the object's Content-Type to application/octet-stream.
- DeleteObject of a version that does not exist succeeds: `delete_version()` is
  idempotent.
- Its circuit breaker answers 503 ErrTooManyRequest or ErrRequestBytesExceed (read in
  its source; not reproduced in the tests).
A multipart upload's ChecksumSHA256 is a COMPOSITE "…=-N" (AWS too): not the object's
SHA-256, so `head()` reports none and `sha256_of()` reads the bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    FlexibleChecksumError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from app.clients import calls
from app.clients.errors import (
    BucketConfigurationError,
    HeldError,
    MissingObjectError,
    PermanentError,
    RemoteError,
    ThrottledError,
    TransientError,
)
from app.clients.retry_after import parse_retry_after

if TYPE_CHECKING:
    from app.config import Settings

logger = logging.getLogger("doiflow.s3")

LOG_MESSAGE = "s3 request"
DEFAULT_REGION = "us-east-1"
CHUNK_SIZE = 1024 * 1024
THROTTLE_STATUSES = frozenset({429, 503})
THROTTLE_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "TooManyRequests", "RequestThrottled"}
)
TRANSIENT_CODES = frozenset({"RequestTimeout", "InternalError"})
MISSING_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "MethodNotAllowed"})
# What S3 servers answer for "this version has no legal hold" (or the bucket has no lock).
NOT_HELD_CODES = frozenset(
    {
        "NoSuchObjectLegalHold",
        "NoSuchObjectLockConfiguration",
        "ObjectLockConfigurationNotFoundError",
    }
)
NO_LOCK_CODES = frozenset({"NoSuchObjectLockConfiguration", "ObjectLockConfigurationNotFoundError"})
OBJECT_OPERATIONS = frozenset(
    {"HeadObject", "GetObject", "GetObjectLegalHold", "PutObjectLegalHold", "DeleteObject"}
)
HOLD_OPERATIONS = frozenset({"GetObjectLegalHold", "PutObjectLegalHold"})


@dataclass(frozen=True)
class ObjectInfo:
    """One object version as S3 holds it; `sha256` is hex, None when S3 keeps none."""

    key: str
    version_id: str
    size: int
    sha256: str | None
    held: bool | None  # None: not asked (head(..., hold=False) and HEAD did not say)


@dataclass(frozen=True)
class ObjectVersion:
    """One entry of a version listing: an object version or a delete marker."""

    key: str
    version_id: str
    size: int
    is_latest: bool
    delete_marker: bool
    last_modified: datetime | None


class StorageClient:
    """Verify blob versions, set and read their legal holds, delete and list versions."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_connections: int = 10,
    ) -> None:
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.region = region or DEFAULT_REGION
        # Keys None: boto3's own chain (environment, profile, instance role) finds them.
        session = boto3.session.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=self.region,
        )
        config = Config(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            # One attempt: a retried 503 would hide throttling from the caller.
            retries={"total_max_attempts": 1, "mode": "standard"},
            max_pool_connections=max_connections,
            # S3-compatible servers (SeaweedFS, MinIO) are addressed by path, not by DNS name.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            user_agent_extra="doiflow",
        )
        self._s3 = session.client("s3", endpoint_url=endpoint_url, config=config)
        self._lock_checked = False
        # A worker's threads share one client: its first hold checks the bucket once.
        self._checking = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> StorageClient:
        """The client for S3_BUCKET with S3_ENDPOINT_URL and the AWS_* settings."""
        if settings.s3_bucket is None:
            raise ValueError("S3_BUCKET is not set: legal holds need a bucket")
        return cls(
            settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.aws_region,
            access_key_id=settings.aws_access_key_id,
            secret_access_key=settings.aws_secret_access_key,
            **options,
        )

    def __repr__(self) -> str:
        # Never the keys: this repr ends up in logs and tracebacks.
        return (
            f"StorageClient(bucket={self.bucket!r}, endpoint_url={self.endpoint_url!r}, "
            f"region={self.region!r})"
        )

    def __enter__(self) -> StorageClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def check_bucket(self) -> None:
        """Refuse a bucket that is missing, has no Object Lock or no versioning (start-up check)."""
        answer = self._call("get_object_lock_configuration")
        if answer.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") != "Enabled":
            raise BucketConfigurationError(_no_lock_message(self.bucket))
        if self._call("get_bucket_versioning").get("Status") != "Enabled":
            raise BucketConfigurationError(
                f"S3 bucket {self.bucket!r} (S3_BUCKET) does not have versioning enabled"
            )
        self._lock_checked = True

    def create_locked_bucket(self) -> None:
        """Create the bucket with Object Lock (and so versioning) on: `doiflow dev` only."""
        self._call("create_bucket", ObjectLockEnabledForBucket=True)

    def head(self, key: str, version_id: str, *, hold: bool = True) -> ObjectInfo:
        """Size, SHA-256 and legal hold of one version; MissingObjectError when it is not there.

        With hold=False no second request asks for the hold when HEAD leaves it out.
        """
        # Without ChecksumMode S3 leaves the checksums out of a HEAD answer.
        answer = self._version_call("head_object", key, version_id, ChecksumMode="ENABLED")
        if answer.get("DeleteMarker"):
            raise MissingObjectError(f"S3 {self._target(key, version_id)} is a delete marker")
        held = _held(answer.get("ObjectLockLegalHoldStatus"))
        if held is None and hold:
            # HEAD leaves the hold out when none was ever set, and also when these
            # credentials may not read holds: only GetObjectLegalHold tells which.
            held = self.hold_status(key, version_id)
        return ObjectInfo(key, version_id, int(answer["ContentLength"]), sha256_hex(answer), held)

    def hold_status(self, key: str, version_id: str) -> bool:
        """True when the version's legal hold is ON."""
        answer = self._version_call("get_object_legal_hold", key, version_id, empty_if=hold_absent)
        return _held(answer.get("LegalHold", {}).get("Status")) is True

    def put_hold(self, key: str, version_id: str, on: bool) -> None:
        """Set (on) or release (off) one version's legal hold; check it with head() first."""
        if not self._lock_checked:
            # Some servers take (and then ignore) holds in a bucket without Object Lock.
            with self._checking:
                if not self._lock_checked:
                    self.check_bucket()
        hold = {"Status": "ON" if on else "OFF"}
        self._version_call("put_object_legal_hold", key, version_id, LegalHold=hold)

    def delete_version(self, key: str, version_id: str) -> None:
        """Delete exactly this version; HeldError when S3 refuses because it is held."""
        # Always by VersionId: a plain delete only adds a delete marker, held or not.
        self._version_call("delete_object", key, version_id)

    def list_versions(self, prefix: str = "", *, page_size: int = 1000) -> Iterator[ObjectVersion]:
        """Every version and delete marker under `prefix`, one request per page of `page_size`."""
        markers: dict[str, Any] = {}
        while True:
            page = self._call(
                "list_object_versions", prefix, Prefix=prefix, MaxKeys=page_size, **markers
            )
            yield from _page_versions(page)
            if not page.get("IsTruncated"):
                return
            markers = self._next_markers(page, prefix)

    def sha256_of(self, key: str, version_id: str, *, chunk_size: int = CHUNK_SIZE) -> str:
        """Hex SHA-256 of one version's bytes, read `chunk_size` at a time (no checksum stored)."""
        body = self._version_call("get_object", key, version_id)["Body"]
        digest = hashlib.sha256()
        try:
            for chunk in body.iter_chunks(chunk_size):
                digest.update(chunk)
        except BotoCoreError as exc:
            extra = {"action": "s3_stream_failed", "key": key, "version_id": version_id}
            logger.warning("s3 stream failed", extra=extra)
            raise translate_error("GetObject", self._target(key, version_id), exc) from exc
        finally:
            body.close()
        return digest.hexdigest()

    def close(self) -> None:
        """Release pooled connections."""
        self._s3.close()

    def _version_call(
        self, method: str, key: str, version_id: str, **params: Any
    ) -> dict[str, Any]:
        """One request about one object version; the answer must be about that version."""
        answer = self._call(
            method,
            key,
            version_id,
            Key=_checked_key(key),
            VersionId=_checked_version(version_id),
            **params,
        )
        answered = answer.get("VersionId")
        if answered is not None and answered != version_id:
            # A server that ignored VersionId acted on another version: never trust that.
            raise PermanentError(
                f"S3 answered version {answered!r} for {self._target(key, version_id)}"
            )
        return answer

    def _call(
        self,
        method: str,
        key: str | None = None,
        version_id: str | None = None,
        *,
        empty_if: Callable[[BaseException], bool] | None = None,
        **params: Any,
    ) -> dict[str, Any]:
        """Send one request and log it; a failure `empty_if` accepts counts as an empty answer."""
        operation = self._s3.meta.method_to_api_mapping[method]
        started = time.monotonic()
        try:
            answer: dict[str, Any] = getattr(self._s3, method)(Bucket=self.bucket, **params)
        except (BotoCoreError, ClientError) as exc:
            empty = empty_if is not None and empty_if(exc)
            self._log(operation, key, version_id, _status(exc), started, accepted=empty)
            if empty:
                return {}
            raise translate_error(operation, self._target(key, version_id), exc) from exc
        status = answer.get("ResponseMetadata", {}).get("HTTPStatusCode")
        self._log(operation, key, version_id, status, started, accepted=True)
        return answer

    def _log(
        self,
        operation: str,
        key: str | None,
        version_id: str | None,
        status: int | None,
        started: float,
        *,
        accepted: bool,
    ) -> None:
        extra = {
            "action": "s3_request",
            "operation": operation,
            "method": self._s3.meta.service_model.operation_model(operation).http["method"],
            "bucket": self.bucket,
            "key": key,
            "version_id": version_id,
            "status": status,
            "elapsed_ms": round((time.monotonic() - started) * 1000),
        }
        logger.log(logging.INFO if accepted else logging.WARNING, LOG_MESSAGE, extra=extra)
        # The intent's timeline shows every S3 request of a delivery, as it does DataCite's.
        calls.record(
            service="s3",
            method=extra["method"],
            operation=operation,
            target=self._target(key, version_id),
            status=status,
            elapsed_ms=extra["elapsed_ms"],
        )

    def _target(self, key: str | None, version_id: str | None) -> str:
        """bucket/key@version, as people read it in errors."""
        target = self.bucket if key is None else f"{self.bucket}/{key}"
        return target if version_id is None else f"{target}@{version_id}"

    def _next_markers(self, page: dict[str, Any], prefix: str) -> dict[str, str]:
        key_marker = page.get("NextKeyMarker")
        if not key_marker:
            # Without a marker the next request would repeat this page forever.
            raise PermanentError(f"S3 listed {self._target(prefix, None)} truncated, no marker")
        markers = {"KeyMarker": key_marker}
        if page.get("NextVersionIdMarker"):
            markers["VersionIdMarker"] = page["NextVersionIdMarker"]
        return markers


def translate_error(operation: str, target: str, exc: BaseException) -> RemoteError:
    """The doiflow error for a failed S3 call, per the table in this module's docstring."""
    if not isinstance(exc, ClientError):
        return _transport_error(operation, target, exc)
    code, status, detail = _error_parts(exc)
    message = f"S3 {operation} {target} answered {status} {code}"
    if status in THROTTLE_STATUSES or code in THROTTLE_CODES:
        retry_after = parse_retry_after(_headers(exc).get("retry-after"))
        return ThrottledError(message, retry_after=retry_after, status=status, body=detail)
    if code == "NoSuchBucket":
        return BucketConfigurationError(f"{message}: the bucket does not exist", status=status)
    if code in NO_LOCK_CODES or (operation in HOLD_OPERATIONS and code == "InvalidRequest"):
        return BucketConfigurationError(
            f"{message}: the bucket has no Object Lock (legal holds need a bucket created "
            "with Object Lock enabled)",
            status=status,
        )
    if operation in OBJECT_OPERATIONS and _missing(operation, code, status):
        return MissingObjectError(f"{message}: no such object version", status=status, body=detail)
    if operation == "DeleteObject" and code == "AccessDenied":
        return HeldError(
            f"{message}: the version is held (legal hold or retention), "
            "or these credentials may not delete versions",
            status=status,
            body=detail,
        )
    if status >= 500 or status == 408 or code in TRANSIENT_CODES:
        return TransientError(message, status=status, body=detail)
    return PermanentError(message, status=status, body=detail)


def hold_absent(exc: BaseException) -> bool:
    """True when a GetObjectLegalHold failure means "no legal hold on this version"."""
    return isinstance(exc, ClientError) and _error_parts(exc)[0] in NOT_HELD_CODES


def sha256_hex(answer: dict[str, Any]) -> str | None:
    """S3's base64 ChecksumSHA256 as hex; None when absent or composite (multipart)."""
    value = answer.get("ChecksumSHA256")
    if not value or answer.get("ChecksumType") == "COMPOSITE" or "-" in value:
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None  # unreadable: the caller hashes the bytes itself
    return raw.hex() if len(raw) == hashlib.sha256().digest_size else None


def _missing(operation: str, code: str, status: int) -> bool:
    # HEAD answers have no body: botocore's "code" is just the status number.
    return code in MISSING_CODES or (operation == "HeadObject" and status in (404, 405))


def _transport_error(operation: str, target: str, exc: BaseException) -> RemoteError:
    """No S3 answer: a timeout (a write may have landed), no connection, or a setup problem."""
    name = type(exc).__name__  # the text adds the endpoint URL and little else
    if isinstance(exc, ReadTimeoutError):
        return TransientError(f"S3 {operation} {target} timed out ({name})", timed_out=True)
    if isinstance(exc, BotoConnectionError | HTTPClientError | IncompleteReadError):
        return TransientError(f"S3 {operation} {target} connection failed ({name})")
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return PermanentError(f"S3 {operation} {target}: no AWS credentials ({name})")
    if isinstance(exc, FlexibleChecksumError):
        return PermanentError(f"S3 {operation} {target}: the bytes do not match S3's checksum")
    return PermanentError(f"S3 {operation} {target} failed ({name}: {exc})")


def _error_parts(exc: ClientError) -> tuple[str, int, str | None]:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return str(error.get("Code") or status), int(status), error.get("Message")


def _headers(exc: ClientError) -> dict[str, str]:
    return exc.response.get("ResponseMetadata", {}).get("HTTPHeaders") or {}


def _status(exc: BaseException) -> int | None:
    return _error_parts(exc)[1] if isinstance(exc, ClientError) else None


def _held(status: str | None) -> bool | None:
    """ON → True, OFF → False, absent → None (S3 did not say)."""
    return None if status is None else status.upper() == "ON"


def _page_versions(page: dict[str, Any]) -> Iterator[ObjectVersion]:
    for item in page.get("Versions", []):
        yield _version(item, delete_marker=False)
    for item in page.get("DeleteMarkers", []):
        yield _version(item, delete_marker=True)


def _version(item: dict[str, Any], *, delete_marker: bool) -> ObjectVersion:
    return ObjectVersion(
        key=item["Key"],
        version_id=item["VersionId"],
        size=int(item.get("Size", 0)),
        is_latest=bool(item.get("IsLatest")),
        delete_marker=delete_marker,
        last_modified=item.get("LastModified"),
    )


def _checked_key(key: str) -> str:
    if not key:
        raise ValueError("an S3 key is required")
    return key


def _checked_version(version_id: str) -> str:
    """A version id is required: without one S3 acts on the latest version, or adds a marker."""
    if not version_id:
        raise ValueError("an S3 version id is required")
    return version_id


def _no_lock_message(bucket: str) -> str:
    return (
        f"S3 bucket {bucket!r} (S3_BUCKET) has no Object Lock: legal holds need a bucket "
        "created with Object Lock enabled"
    )
