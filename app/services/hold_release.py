"""The backdoor: release one blob version's legal hold (admin only, reason required, audited).

The hold is marked released by an operator, so `doiflow holds verify` and `backfill`
leave it off; a later publication of the same blob version holds it again.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.enums import HoldTarget
from app.models import Blob, Intent, LegalHold
from app.services import audit, holds
from app.services.errors import ConflictError, InvalidInputError, NotFoundError


def locked_hold(session: Session, key: str, version_id: str) -> LegalHold:
    """The hold of blob `key` version `version_id`, locked; NotFoundError when there is none."""
    blob = session.scalars(
        select(Blob).where(Blob.key == key, Blob.version_id == version_id)
    ).first()
    if blob is None or blob.hold is None:
        raise NotFoundError(f"doiflow has no legal hold on blob {key!r} version {version_id!r}")
    [hold] = holds.locked_holds(session, [blob.hold.id])
    return hold


def release(
    settings: Settings, session: Session, key: str, version_id: str, *, reason: str, actor: str
) -> tuple[LegalHold, list[Intent]]:
    """Mark the hold released by an operator, audit it, and queue the PutObjectLegalHold OFF."""
    if not reason.strip():
        raise InvalidInputError("a reason is required to release a legal hold", {"field": "reason"})
    if not settings.s3_configured:
        raise ConflictError("S3 is not configured (S3_BUCKET): there is no hold to release")
    hold = locked_hold(session, key, version_id)
    if hold.release_reason is not None and hold.target == HoldTarget.OFF.value:
        raise ConflictError(f"the hold on {key!r} version {version_id!r} is already released")
    before = hold.state
    hold.target = HoldTarget.OFF.value
    hold.release_reason = reason.strip()
    audit.record(
        session,
        actor=actor,
        action="release_hold",
        target=f"{key}@{version_id}",
        reason=hold.release_reason,
        state_before=before,
        still_published=holds.is_published(session, hold.blob_id),
    )
    return hold, holds.queue_apply(session, settings, [hold.id])
