"""Holds for blob versions published before S3 was configured (or whose hold never came on).

Resumable by construction: a candidate is a published blob version whose hold is not
on (and was not released by the backdoor), so a second run does only what is left.
The command makes the S3 calls itself, paced; these functions are its transactions.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.enums import HoldState, HoldTarget
from app.models import Blob, LegalHold
from app.services import holds
from app.states.hold import TransitionNotAllowed, apply


@dataclass(frozen=True)
class Candidate:
    blob_id: int
    key: str
    version_id: str


def candidates(session: Session, *, limit: int | None = None) -> list[Candidate]:
    """Published blob versions that lack a hold that is on (oldest first)."""
    query = (
        select(Blob.id, Blob.key, Blob.version_id)
        .outerjoin(LegalHold, LegalHold.blob_id == Blob.id)
        .where(
            holds.published(Blob.id),
            Blob.deleted_at.is_(None),
            or_(
                LegalHold.id.is_(None),
                (LegalHold.state != HoldState.ON.value) & LegalHold.release_reason.is_(None),
            ),
        )
        .order_by(Blob.id)
    )
    rows = session.execute(query.limit(limit) if limit is not None else query).all()
    return [Candidate(blob_id, key, version_id) for blob_id, key, version_id in rows]


def prepare(session: Session, blob_id: int) -> int:
    """The candidate's hold, created or re-armed (pending, heading on); its id."""
    hold = next(iter(holds.locked_holds_of(session, [blob_id])), None)
    if hold is None:
        hold = LegalHold(blob_id=blob_id, target=HoldTarget.ON.value)
        session.add(hold)
    else:
        holds.rearm(hold, "doiflow holds backfill")
    session.flush()
    return hold.id


def confirm(session: Session, hold_id: int, *, on: bool, detail: str) -> None:
    """S3 answered a PUT the command made: record it (released or on)."""
    [hold] = holds.locked_holds(session, [hold_id])
    apply(hold, "confirm_on" if on else "confirm_off", detail=detail)
    hold.last_error = None


def failed(session: Session, hold_id: int, error: str, *, permanent: bool) -> None:
    """S3 refused or failed: the error kept, a permanent one fails the hold."""
    [hold] = holds.locked_holds(session, [hold_id])
    hold.last_error = error[:4000]
    if permanent:
        try:
            apply(hold, "fail", detail=hold.last_error)
        except TransitionNotAllowed:
            pass  # failed already: the error above is the news
