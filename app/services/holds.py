"""Which blob versions must be held, and queueing the S3 work (the web path: no S3 call here).

A blob version is held while a published (live) version references it, unless the
backdoor released it; one hold per blob version however many versions share it.
`apply_hold` intents carry a small batch of hold ids and do the PutObjectLegalHold
calls (`hold_apply`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Exists, exists, func, select
from sqlalchemy.orm import Session, lazyload

from app import outbox
from app.config import Settings
from app.enums import HoldState, HoldTarget
from app.models import Blob, Intent, LegalHold, Version, version_blobs
from app.states.hold import apply
from app.topics import APPLY_HOLD, Topic

# The version DOI waits while one of its holds is in one of these states.
NOT_YET = (HoldState.PENDING.value, HoldState.FAILED.value)


def published(blob_id: Any) -> Exists:
    """SQL: some live version references the blob."""
    return exists().where(
        version_blobs.c.blob_id == blob_id,
        version_blobs.c.version_id == Version.id,
        Version.deleted_at.is_(None),
    )


def is_published(session: Session, blob_id: int) -> bool:
    """True while a live version references the blob version."""
    return bool(session.scalar(select(published(blob_id))))


def locked_holds(
    session: Session, hold_ids: Iterable[int], *, history: bool = True
) -> list[LegalHold]:
    """The holds, locked in id order (so two transactions never deadlock), freshly read.

    `history=False` leaves their transitions unread until something touches them (a
    batch's delivery reads fifty holds and appends to few of their histories).
    """
    query = (
        select(LegalHold)
        .where(LegalHold.id.in_(sorted(set(hold_ids))))
        .order_by(LegalHold.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if not history:
        query = query.options(lazyload(LegalHold.history))
    return list(session.scalars(query))


def protect(session: Session, settings: Settings, blobs: Sequence[Blob]) -> list[LegalHold]:
    """Each blob of a new publication gets a hold heading for on (created, or re-armed)."""
    if not settings.s3_configured or not blobs:
        return []
    existing = {h.blob_id: h for h in locked_holds_of(session, [b.id for b in blobs])}
    holds = []
    for blob in sorted(blobs, key=lambda b: b.id):
        hold = existing.get(blob.id)
        if hold is None:
            hold = LegalHold(blob=blob, target=HoldTarget.ON.value)
            session.add(hold)
        else:
            rearm(hold, "published again")
        holds.append(hold)
    session.flush()
    return holds


def rearm(hold: LegalHold, reason: str) -> None:
    """A hold that must be on again (published again, or re-driven)."""
    hold.target = HoldTarget.ON.value
    hold.release_reason = None
    if hold.state == HoldState.RELEASED.value:
        apply(hold, "rehold", detail=reason)
    elif hold.state == HoldState.FAILED.value:
        apply(hold, "redrive", detail=reason)
        hold.last_error = None


def locked_holds_of(session: Session, blob_ids: Iterable[int]) -> list[LegalHold]:
    """The holds of these blobs, locked in id order."""
    ids = session.scalars(select(LegalHold.id).where(LegalHold.blob_id.in_(set(blob_ids))))
    return locked_holds(session, ids)


def release_unreferenced(session: Session, settings: Settings, blobs: Sequence[Blob]) -> list[int]:
    """Holds no live version references any more head for off; their S3 calls are queued."""
    changed = []
    for hold in locked_holds_of(session, [b.id for b in blobs]):
        if hold.target == HoldTarget.ON.value and not is_published(session, hold.blob_id):
            hold.target = HoldTarget.OFF.value
            changed.append(hold.id)
    session.flush()
    queue_apply(session, settings, changed)
    return changed


def needs_call(hold: LegalHold) -> bool:
    """True when S3 has not confirmed the hold's target (failed ones wait for a person)."""
    if hold.state == HoldState.FAILED.value:
        return False
    wanted = HoldState.ON if hold.target == HoldTarget.ON.value else HoldState.RELEASED
    return hold.state != wanted.value


def queue_apply(session: Session, settings: Settings, hold_ids: Sequence[int]) -> list[Intent]:
    """One `apply_hold` intent per batch of HOLD_BATCH_SIZE holds."""
    return queue_batches(session, APPLY_HOLD, "holds", sorted(hold_ids), settings.hold_batch_size)


def queue_batches(
    session: Session, topic: Topic, name: str, ids: Sequence[int], size: int, **payload: object
) -> list[Intent]:
    """Intents of `topic` over `ids` in batches; a batch's key names exactly its ids."""
    intents = []
    for start in range(0, len(ids), size):
        batch = list(ids[start : start + size])
        # The outbox coalesces a waiting intent of the same key: the key must say which
        # ids it covers, or a second batch would be folded into the first and lost.
        digest = hashlib.sha256(",".join(map(str, batch)).encode()).hexdigest()[:16]
        key = f"{name}:{batch[0]}-{batch[-1]}:{digest}"
        intents.append(outbox.add(session, topic, key=key, payload={**payload, "ids": batch}))
    return intents


def waiting_for_holds(session: Session, version_id: int) -> bool:
    """True while one of the version's holds is not yet on: its DOI must not be findable."""
    query = select(LegalHold.id).join(version_blobs, version_blobs.c.blob_id == LegalHold.blob_id)
    query = query.where(version_blobs.c.version_id == version_id, LegalHold.state.in_(NOT_YET))
    return session.scalar(query.limit(1)) is not None


def counts(session: Session, version_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """`{"on": n, "total": m}` per version: holds on, blob versions referenced (one query each)."""
    if not version_ids:
        return {}
    totals: dict[int, int] = dict(
        session.execute(
            select(version_blobs.c.version_id, func.count())
            .where(version_blobs.c.version_id.in_(version_ids))
            .group_by(version_blobs.c.version_id)
        ).all()
    )
    held: dict[int, int] = dict(
        session.execute(
            select(version_blobs.c.version_id, func.count())
            .join(LegalHold, LegalHold.blob_id == version_blobs.c.blob_id)
            .where(
                version_blobs.c.version_id.in_(version_ids),
                LegalHold.state == HoldState.ON.value,
            )
            .group_by(version_blobs.c.version_id)
        ).all()
    )
    return {v: {"on": int(held.get(v, 0)), "total": int(totals.get(v, 0))} for v in version_ids}
