"""Dataset and version endpoints: each one a service call inside the view's transaction."""

from __future__ import annotations

from flask import url_for
from flask.typing import ResponseReturnValue

from app.api import serialize
from app.api.auth import require
from app.api.blueprint import bp
from app.api.context import current_settings, transaction
from app.api.validation import path_text, read_body, read_query
from app.enums import Scope
from app.services import dataset_listing, datasets, holds, restore, versions

LIST_LIMIT = 100  # datasets per page unless `limit` says otherwise


@bp.post("/datasets")
@require(Scope.WRITE)
def create_dataset() -> ResponseReturnValue:
    """Create a dataset; a public one gets a concept DOI heading for draft."""
    body = read_body("CreateDataset")
    with transaction() as session:
        dataset = datasets.create_dataset(
            current_settings(),
            session,
            body["id"],
            embargoed=body.get("embargoed", False),
            metadata=body.get("metadata", {}),
        )
        answer = serialize.dataset_json(session, dataset)
    return answer, 201, {"Location": url_for("api.get_dataset", dataset_id=dataset.id)}


@bp.get("/datasets")
@require(Scope.READ)
def list_datasets() -> ResponseReturnValue:
    """Datasets in id order, a page at a time (`after` = the previous page's `next`)."""
    query = read_query("ListDatasets")
    with transaction() as session:
        rows, cursor = dataset_listing.list_datasets(
            session,
            after=query.get("after"),
            limit=query.get("limit", LIST_LIMIT),
            deleted=query.get("deleted"),
            embargoed=query.get("embargoed"),
            doi_state=query.get("doi_state"),
        )
        return {"datasets": [serialize.dataset_row_json(row) for row in rows], "next": cursor}


@bp.get("/datasets/<dataset_id>")
@require(Scope.READ)
def get_dataset(dataset_id: str) -> ResponseReturnValue:
    """A dataset with its concept DOI and versions."""
    path_text("dataset id", dataset_id)
    with transaction() as session:
        dataset = datasets.get_dataset(session, dataset_id, blobs=False)
        return serialize.dataset_json(session, dataset)


@bp.put("/datasets/<dataset_id>/metadata")
@require(Scope.WRITE)
def update_metadata(dataset_id: str) -> ResponseReturnValue:
    """Replace the draft metadata."""
    path_text("dataset id", dataset_id)
    body = read_body("UpdateMetadata")
    with transaction() as session:
        dataset = datasets.update_metadata(
            current_settings(), session, dataset_id, body["metadata"]
        )
        answer = serialize.dataset_json(session, dataset)
    return answer, 200


@bp.post("/datasets/<dataset_id>/unembargo")
@require(Scope.WRITE)
def unembargo(dataset_id: str) -> ResponseReturnValue:
    """Lift the embargo; the concept DOI is created as a draft."""
    path_text("dataset id", dataset_id)
    with transaction() as session:
        dataset = datasets.unembargo(current_settings(), session, dataset_id)
        answer = serialize.dataset_json(session, dataset)
    return answer, 202


@bp.delete("/datasets/<dataset_id>")
@require(Scope.WRITE)
def delete_dataset(dataset_id: str) -> ResponseReturnValue:
    """Delete a dataset: drafts are deleted, findable DOIs hidden."""
    path_text("dataset id", dataset_id)
    with transaction() as session:
        dataset = datasets.delete_dataset(current_settings(), session, dataset_id)
        answer = serialize.dataset_json(session, dataset)
    return answer, 202


@bp.post("/datasets/<dataset_id>/versions")
@require(Scope.WRITE)
def publish_version(dataset_id: str) -> ResponseReturnValue:
    """Publish a version; the answer carries the job that reports its progress."""
    path_text("dataset id", dataset_id)
    body = read_body("PublishVersion")
    with transaction() as session:
        version, job = versions.publish_version(
            current_settings(),
            session,
            dataset_id,
            name=body.get("version"),
            metadata=body["metadata"],
            blobs=body["blobs"],
        )
        doi = serialize.version_dois(session, [version.id]).get(version.id)
        held = holds.counts(session, [version.id]).get(version.id)
        answer = {
            "version": serialize.version_json(version, doi, held),
            "job": serialize.job_json(session, job),
        }
    return answer, 202, {"Location": url_for("api.get_job", job_id=job.id)}


@bp.delete("/datasets/<dataset_id>/versions/<version>")
@require(Scope.WRITE)
def delete_version(dataset_id: str, version: str) -> ResponseReturnValue:
    """Delete a published version: its DOI is hidden, the concept follows the latest left."""
    path_text("dataset id", dataset_id)
    with transaction() as session:
        dataset = versions.delete_version(current_settings(), session, dataset_id, version)
        answer = serialize.dataset_json(session, dataset)
    return answer, 202


@bp.put("/datasets/<dataset_id>/versions/<version>/metadata")
@require(Scope.WRITE)
def update_version_metadata(dataset_id: str, version: str) -> ResponseReturnValue:
    """Correct a published version's metadata; its DOI (and the concept's) is re-synced."""
    path_text("dataset id", dataset_id)
    path_text("version", version)
    body = read_body("UpdateMetadata")
    with transaction() as session:
        dataset = versions.update_version_metadata(
            current_settings(), session, dataset_id, version, body["metadata"]
        )
        answer = serialize.dataset_json(session, dataset)
    return answer, 200


@bp.post("/datasets/<dataset_id>/restore")
@require(Scope.WRITE)
def restore_dataset(dataset_id: str) -> ResponseReturnValue:
    """Restore a deleted dataset within the stash retention; its DOIs go through the outbox."""
    path_text("dataset id", dataset_id)
    with transaction() as session:
        restored = restore.restore_dataset(current_settings(), session, dataset_id)
        answer = {**serialize.dataset_json(session, restored.dataset), "restore": restored.report()}
    return answer, 202


@bp.post("/datasets/<dataset_id>/versions/<version>/restore")
@require(Scope.WRITE)
def restore_version(dataset_id: str, version: str) -> ResponseReturnValue:
    """Restore one deleted version; its DOI is published again, the concept follows."""
    path_text("dataset id", dataset_id)
    path_text("version", version)
    with transaction() as session:
        restored = restore.restore_version(current_settings(), session, dataset_id, version)
        answer = {**serialize.dataset_json(session, restored.dataset), "restore": restored.report()}
    return answer, 202
