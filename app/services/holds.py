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

from sqlalchemy import Exists, exists, func, insert, literal, select
from sqlalchemy.orm import Session, lazyload

from app import outbox
from app.config import Settings
from app.db import is_postgres, utcnow
from app.enums import HoldState, HoldTarget
from app.models import Blob, Intent, LegalHold, Version, version_blobs
from app.services.blob_records import ids_array
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
        .where(_among(session, LegalHold.id, sorted(set(hold_ids))))
        .order_by(LegalHold.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if not history:
        query = query.options(lazyload(LegalHold.history))
    return list(session.scalars(query))


def protect(session: Session, settings: Settings, blobs: Sequence[Blob]) -> list[int]:
    """Each blob of a new publication gets a hold heading for on (created, or re-armed).

    The new holds are one multi-row INSERT, not an ORM object each (a version may have
    thousands of blobs). Returns the ids of the holds S3 does not confirm yet (the new
    ones and the re-armed ones not on), for a caller that applies them at once.
    """
    if not settings.s3_configured or not blobs:
        return []
    existing = {h.blob_id: h for h in locked_holds_of(session, [b.id for b in blobs])}
    for hold in existing.values():
        rearm(hold, "published again")
    new = sorted({b.id for b in blobs} - set(existing))
    created = _insert_holds(session, new) if new else []
    session.flush()
    return sorted([h.id for h in existing.values() if needs_call(h)] + created)


def _insert_holds(session: Session, blob_ids: list[int]) -> list[int]:
    """Pending holds heading for on, one INSERT (the ids as one array on Postgres); their ids."""
    now = utcnow()
    fixed = {
        "state": HoldState.PENDING.value,
        "target": HoldTarget.ON.value,
        "created_at": now,
        "updated_at": now,
        "row_version": 1,
    }
    if is_postgres(session):
        rows = select(
            func.unnest(ids_array(blob_ids)),
            *(literal(value, LegalHold.__table__.c[name].type) for name, value in fixed.items()),
        )
        statement = insert(LegalHold).from_select(["blob_id", *fixed], rows)
        return list(session.scalars(statement.returning(LegalHold.id)))
    rows_of = [{"blob_id": i, **fixed} for i in blob_ids]
    return list(session.scalars(insert(LegalHold).returning(LegalHold.id), rows_of))


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
    wanted = sorted(set(blob_ids))
    if not wanted:
        return []
    ids = list(
        session.scalars(select(LegalHold.id).where(_among(session, LegalHold.blob_id, wanted)))
    )
    return locked_holds(session, ids) if ids else []


def _among(session: Session, column: Any, ids: list[int]) -> Any:
    """`column IN ids`; on Postgres one array parameter for 10,000 blobs' ids, unnested in a
    subquery (evaluated once: `= ANY(CAST(…))` would parse the array again for every row)."""
    if is_postgres(session):
        return column.in_(select(func.unnest(ids_array(ids))))
    return column.in_(ids)


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
    return [
        outbox.add(session, topic, key=key, payload=batch_payload)
        for key, batch_payload in batches(name, ids, size, **payload)
    ]


def queue_fresh_batches(
    session: Session, topic: Topic, name: str, ids: Sequence[int], size: int, **payload: object
) -> int:
    """queue_batches for a `name` born in this transaction (a new job's): one INSERT."""
    return outbox.add_fresh_many(session, topic, batches(name, ids, size, **payload))


def batches(
    name: str, ids: Sequence[int], size: int, **payload: object
) -> list[tuple[str, dict[str, Any]]]:
    """(key, payload) of each batch of `ids`."""
    found = []
    for start in range(0, len(ids), size):
        batch = list(ids[start : start + size])
        # The outbox coalesces a waiting intent of the same key: the key must say which
        # ids it covers, or a second batch would be folded into the first and lost.
        digest = hashlib.sha256(",".join(map(str, batch)).encode()).hexdigest()[:16]
        key = f"{name}:{batch[0]}-{batch[-1]}:{digest}"
        found.append((key, {**payload, "ids": batch}))
    return found


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
