"""Blob endpoints: deleting a blob version (refused while published or held), releasing a hold."""

from __future__ import annotations

import logging

from flask import current_app, request
from flask.typing import ResponseReturnValue

from app.api import serialize
from app.api.auth import current_caller, require
from app.api.blueprint import bp
from app.api.context import current_settings, transaction
from app.api.errors import ApiError
from app.api.validation import path_text, read_body
from app.clients.errors import HeldError, MissingObjectError, RemoteError, TransientError
from app.clients.storage import StorageClient
from app.enums import Scope
from app.services import blob_delete, hold_release

log = logging.getLogger("doiflow.api")
STORAGE = "doiflow.storage"


@bp.delete("/blobs/<path:key>")
@require(Scope.WRITE, one_transaction=False)  # it calls S3: never inside a transaction
def delete_blob(key: str) -> ResponseReturnValue:
    """204 once S3 deleted exactly this version; 409 while it is published or held."""
    version_id = _version_id(key)
    settings = current_settings()
    if not settings.s3_configured:
        raise ApiError(409, "s3_not_configured", "S3 is not configured (S3_BUCKET is unset)")
    with transaction() as session:
        blob_id = blob_delete.claim(session, key, version_id)
    # No transaction is open while S3 is called.
    try:
        _storage().delete_version(key, version_id)
    except MissingObjectError:
        pass  # already gone: the delete is idempotent
    except RemoteError as error:
        with transaction() as session:
            blob_delete.refused(session, blob_id, error)
        raise _s3_error(key, version_id, error) from None
    with transaction() as session:
        blob_delete.confirm(session, blob_id)
    return "", 204


@bp.post("/holds/release")
@require(Scope.ADMIN)
def release_hold() -> ResponseReturnValue:
    """The backdoor: release one blob version's hold; reason required, audit-logged."""
    body = read_body("ReleaseHold")
    actor = f"API token {current_caller().name!r}"
    with transaction() as session:
        hold, _ = hold_release.release(
            current_settings(),
            session,
            body["key"],
            body["version_id"],
            reason=body["reason"],
            actor=actor,
        )
        answer = serialize.hold_json(hold)
    return answer, 202


def _version_id(key: str) -> str:
    path_text("key", key)
    version_id = request.args.get("version_id", "")
    if not version_id:
        raise ApiError(
            400,
            "invalid_input",
            "version_id is required: doiflow deletes exactly one version, never the latest",
            {"field": "version_id"},
        )
    return path_text("version_id", version_id)


def _storage() -> StorageClient:
    """One S3 client per web process (boto3 clients are thread-safe; sessions are not)."""
    client = current_app.extensions.get(STORAGE)
    if client is None:
        client = current_app.extensions.setdefault(
            STORAGE, StorageClient.from_settings(current_settings())
        )
    return client


def _s3_error(key: str, version_id: str, error: RemoteError) -> ApiError:
    target = {"key": key, "version_id": version_id}
    if isinstance(error, HeldError):
        # doiflow thought it free: an error for people, reported by the health check too.
        log.error("S3 refused a blob delete", extra={"action": "blob_delete_refused", **target})
        return ApiError(
            409,
            "held_in_s3",
            f"S3 refused to delete blob {key!r} version {version_id!r} (AccessDenied) although "
            "doiflow records no hold: it is held out of band, or these credentials may not "
            "delete versions; nothing was deleted",
            target,
        )
    log.error("blob delete failed", extra={"action": "blob_delete_failed", **target})
    status, retry = (503, {"Retry-After": "5"}) if isinstance(error, TransientError) else (502, {})
    return ApiError(status, "s3_error", f"{error}; nothing was deleted", target, retry)
