"""Deleting one blob version: refused while published or held, else deleted in S3 by VersionId.

On a versioned bucket a plain delete of a held object *succeeds* by adding a delete
marker, so doiflow refuses itself, from its own records, and always deletes by
VersionId (which S3 refuses with AccessDenied for a held version). Three steps, the
S3 call between two transactions: mark the blob being deleted (a publication can no
longer reference it), delete in S3, record the outcome.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.clients.errors import HeldError
from app.db import utcnow
from app.enums import HoldState, HoldTarget
from app.models import Blob, Dataset, Version, version_blobs
from app.services.errors import ConflictError, NotFoundError

HELD = (HoldState.PENDING.value, HoldState.ON.value, HoldState.FAILED.value)


def claim(session: Session, key: str, version_id: str) -> int:
    """Step 1: refuse (409) while published or held; mark the blob being deleted; its id."""
    blob = session.scalars(
        select(Blob).where(Blob.key == key, Blob.version_id == version_id).with_for_update()
    ).first()
    if blob is None:
        raise NotFoundError(
            f"doiflow has no record of blob {key!r} version {version_id!r} "
            "(it was never published); nothing was deleted"
        )
    where = _published_by(session, blob.id)
    if where:
        raise ConflictError(
            f"blob {key!r} version {version_id!r} is published by {', '.join(where)}: "
            "published data is immutable; delete those versions first",
            {"published_by": where},
        )
    hold = blob.hold
    if hold is not None and (hold.state in HELD or hold.target == HoldTarget.ON.value):
        raise ConflictError(
            f"blob {key!r} version {version_id!r} is held (legal hold {hold.state}, "
            f"heading {hold.target}); wait for its release, or release it "
            "(doiflow holds release, admin only)",
            {"hold": hold.state},
        )
    blob.deleted_at = utcnow()
    return blob.id


def confirm(session: Session, blob_id: int) -> None:
    """Step 3, after S3 deleted the version: it stays marked deleted."""
    blob = session.get(Blob, blob_id, with_for_update=True)
    if blob is not None:
        blob.check_problem = None


def refused(session: Session, blob_id: int, error: Exception) -> None:
    """Step 3, after S3 refused or failed: unmarked; a refusal doiflow did not expect is kept."""
    blob = session.get(Blob, blob_id, with_for_update=True)
    if blob is None:
        return
    blob.deleted_at = None
    if isinstance(error, HeldError):
        # S3 holds what doiflow thinks is free: out of band, or the credentials are wrong.
        blob.check_problem = f"S3 refused to delete it although doiflow records no hold: {error}"
        blob.checked_at = utcnow()


def _published_by(session: Session, blob_id: int) -> list[str]:
    rows = session.execute(
        select(Dataset.id, Version.name)
        .join(Version, Version.dataset_id == Dataset.id)
        .join(version_blobs, version_blobs.c.version_id == Version.id)
        .where(version_blobs.c.blob_id == blob_id, Version.deleted_at.is_(None))
        .order_by(Version.id)
    ).all()
    return [f"{dataset} {name}" for dataset, name in rows]
