"""The transactional outbox: intents written beside their cause, claimed by the relay.

Every function takes the caller's Session and never commits: the view, relay or
actor owns the transaction. Updates are guarded (`WHERE status = … AND
lease_token = …`) so a superseded or duplicate delivery changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, select, text, update
from sqlalchemy.orm import Session, aliased

from app.db import is_postgres, utcnow
from app.enums import IntentStatus
from app.models import Intent

NOTIFY_CHANNEL = "doiflow_outbox"
PENDING = IntentStatus.PENDING.value
ENQUEUED = IntentStatus.ENQUEUED.value


@dataclass(frozen=True)
class Topic:
    """A kind of work: its stable actor name and the queue that runs it."""

    name: str
    queue: str


SYNC_DOI = Topic("sync_doi", queue="doi")


@dataclass(frozen=True)
class Claim:
    """What the relay hands to the broker for one claimed intent."""

    intent_id: int
    topic: str
    queue: str
    lease_token: str


def add(session: Session, topic: Topic, key: str, payload: dict[str, Any] | None = None) -> Intent:
    """Record an intent, coalesced: one already waiting for the same key and topic is reused."""
    # FOR UPDATE waits for a relay that is claiming the waiting row right now; once it
    # commits the row is no longer pending and we add a fresh one, so no change is lost.
    waiting = session.scalars(
        select(Intent)
        .where(Intent.key == key, Intent.topic == topic.name, Intent.status == PENDING)
        .order_by(Intent.id)
        .limit(1)
        .with_for_update()
    ).first()
    if waiting is not None:
        return waiting
    intent = Intent(topic=topic.name, queue=topic.queue, key=key, payload=payload or {})
    intent.available_at = utcnow()
    session.add(intent)
    session.flush()
    notify(session)
    return intent


def notify(session: Session) -> None:
    """Wake the relay when this transaction commits (Postgres only; SQLite polls)."""
    if is_postgres(session):
        session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))


def claim_due(
    session: Session, *, limit: int, lease_seconds: float, now: datetime | None = None
) -> list[Claim]:
    """Lease up to `limit` due intents, the oldest per key, none whose key is in flight."""
    now = now or utcnow()
    in_flight = aliased(Intent)
    older = aliased(Intent)
    due = (
        select(Intent)
        .where(
            Intent.status == PENDING,
            Intent.available_at <= now,
            ~exists().where(and_(in_flight.key == Intent.key, in_flight.status == ENQUEUED)),
            ~exists().where(
                and_(older.key == Intent.key, older.status == PENDING, older.id < Intent.id)
            ),
        )
        .order_by(Intent.available_at, Intent.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=Intent)
    )
    claims = []
    expires = now + timedelta(seconds=lease_seconds)
    for intent in session.scalars(due):
        intent.status = ENQUEUED
        intent.lease_token = str(uuid.uuid4())
        intent.lease_expires_at = expires
        claims.append(Claim(intent.id, intent.topic, intent.queue, intent.lease_token))
    session.flush()
    return claims


def rescue_expired(session: Session, *, now: datetime | None = None) -> int:
    """Put intents whose lease ran out (worker killed, message lost) back to pending."""
    result = session.execute(
        update(Intent)
        .where(Intent.status == ENQUEUED, Intent.lease_expires_at < (now or utcnow()))
        # A delivery that died counts as an attempt, so a call that always crashes ends.
        .values(
            status=PENDING,
            lease_token=None,
            lease_expires_at=None,
            attempts=Intent.attempts + 1,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def lock_leased(session: Session, intent_id: int, lease_token: str) -> Intent | None:
    """The intent if this delivery still holds its lease, locked; None if superseded."""
    return session.scalars(
        select(Intent)
        .where(Intent.id == intent_id, Intent.status == ENQUEUED, Intent.lease_token == lease_token)
        .with_for_update()
    ).first()


def complete(intent: Intent) -> None:
    """Mark a leased intent done (the caller holds it via lock_leased)."""
    _finish(intent, IntentStatus.DONE, error=None)


def fail(intent: Intent, error: str) -> None:
    """Mark a leased intent failed: a person or a re-drive must act."""
    _finish(intent, IntentStatus.FAILED, error=error)


def renew_lease(intent: Intent, lease_seconds: float) -> None:
    """Restart a leased intent's lease from now (its worker has just begun)."""
    intent.lease_expires_at = utcnow() + timedelta(seconds=lease_seconds)


def in_flight(session: Session) -> int:
    """How many intents are enqueued (an index-only count over the lease index)."""
    return int(session.scalar(select(func.count()).where(Intent.status == ENQUEUED)) or 0)


def retry_later(intent: Intent, *, delay_seconds: float, error: str, use_attempt: bool) -> None:
    """Send a leased intent back to pending, due after `delay_seconds`."""
    intent.status = PENDING
    intent.lease_token = None
    intent.lease_expires_at = None
    intent.available_at = utcnow() + timedelta(seconds=max(0.0, delay_seconds))
    intent.last_error = error
    if use_attempt:
        intent.attempts += 1


def _finish(intent: Intent, status: IntentStatus, error: str | None) -> None:
    intent.status = status.value
    intent.lease_token = None
    intent.lease_expires_at = None
    intent.last_error = error


def lag_seconds(session: Session, *, now: datetime | None = None) -> float:
    """Age of the oldest due pending intent: how far the relay is behind."""
    now = now or utcnow()
    oldest = session.scalar(
        select(func.min(Intent.available_at)).where(
            Intent.status == PENDING, Intent.available_at <= now
        )
    )
    return max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
