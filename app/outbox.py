"""The transactional outbox: intents written beside their cause, claimed by the relay.

Every function takes the caller's Session and never commits: the view, relay or
actor owns the transaction. A delivery's status changes are guarded statements
(`UPDATE … WHERE id = :id AND status = 'enqueued' AND lease_token = :t RETURNING id`)
that raise `LeaseLostError` when nothing matched, so a superseded or duplicate
delivery changes nothing, loudly (procrastinate's `finish_job` does the same).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, and_, case, exists, func, insert, select, text, update
from sqlalchemy.orm import Session, aliased

from app.db import is_postgres, utcnow
from app.enums import IntentStatus
from app.models import Intent, IntentEvent
from app.topics import Topic

NOTIFY_CHANNEL = "doiflow_outbox"
# The payload of a completion's NOTIFY when no intent of its key is seen waiting: room
# was freed, and a successor may have committed unseen (the relay claims soon, not now).
FREED = "freed"
PENDING = IntentStatus.PENDING.value
ENQUEUED = IntentStatus.ENQUEUED.value
# What an operator may drop: work waiting or given up, never a delivery in flight.
DISCARDABLE = (IntentStatus.PENDING.value, IntentStatus.FAILED.value)


class LeaseLostError(RuntimeError):
    """A guarded update matched nothing: this delivery no longer owns the intent."""


class Claim(NamedTuple):
    """What the relay hands to the broker for one claimed intent (a tuple: the relay
    makes thousands a second)."""

    intent_id: int
    topic: str
    queue: str
    lease_token: str


def add(
    session: Session,
    topic: Topic,
    key: str,
    payload: dict[str, Any] | None = None,
    *,
    fresh: bool = False,
) -> Intent:
    """Record an intent, coalesced: one already waiting for the same key and topic is reused.

    `fresh=True` says the key was born in this transaction (a new DOI's id), so nothing
    can be waiting for it and the lookup is skipped.
    """
    # FOR UPDATE waits for a relay that is claiming the waiting row right now; once it
    # commits the row is no longer pending and we add a fresh one, so no change is lost.
    waiting = None
    if not fresh:
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


def add_fresh_many(session: Session, topic: Topic, items: list[tuple[str, dict[str, Any]]]) -> int:
    """Record many intents of keys born in this transaction: one INSERT and one NOTIFY.

    As `add(..., fresh=True)` for each (key, payload), without an ORM object per intent:
    a publication of thousands of blobs queues hundreds of batches.
    """
    if not items:
        return 0
    now = utcnow()
    rows = [
        {
            "topic": topic.name,
            "queue": topic.queue,
            "key": key,
            "payload": payload,
            "status": PENDING,
            "attempts": 0,
            "available_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for key, payload in items
    ]
    # The table, not the entity: an ORM bulk insert costs more, and no object is wanted.
    session.execute(insert(cast(Table, Intent.__table__)), rows)
    notify(session)
    return len(rows)


def notify(session: Session, *, due: datetime | None = None) -> None:
    """Wake the relay when this transaction commits (Postgres only; SQLite polls).

    With `due` (an intent sent back to wait: a retry, a snooze, a rate-limit slot) the
    notification only tells the relay when to look next: it moves its wake-up earlier
    instead of running a pass now. Without it, a relay that saw nothing pending would
    sleep its whole poll interval past the slot, and the intents it then finds overdue
    would leave together, a burst the remote's own rate limit refuses.
    """
    if not is_postgres(session):
        return
    if due is None:
        session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
    else:
        # A number formatted here, never caller text: safe as a literal.
        session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}, '{due.timestamp():.6f}'"))


def claim_due(
    session: Session, *, limit: int, lease_seconds: float, now: datetime | None = None
) -> list[Claim]:
    """The portable claim (SQLite); the relay uses `app.claiming`, one statement on Postgres."""
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
        record_event(
            session,
            intent.id,
            "claimed",
            message_id=str(intent.id),
            lease_expires_at=expires.isoformat(),
        )
    session.flush()
    return claims


def rescue_expired(session: Session, *, now: datetime | None = None) -> int:
    """Put intents whose lease ran out (worker killed, message lost) back to pending.

    No attempt is counted here: a delivery counts its attempt when it starts, so an
    intent whose message no worker ever took (a worker outage) loses nothing.
    """
    now = now or utcnow()
    result = session.execute(
        update(Intent)
        .where(Intent.status == ENQUEUED, Intent.lease_expires_at < now)
        .values(status=PENDING, lease_token=None, lease_expires_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def lock_leased(session: Session, intent_id: int, lease_token: str) -> Intent | None:
    """The intent if this delivery still holds its lease, locked; None if superseded."""
    return session.scalars(
        select(Intent)
        .where(Intent.id == intent_id, Intent.status == ENQUEUED, Intent.lease_token == lease_token)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def start(
    session: Session, intent_id: int, lease_token: str, *, lease_seconds: float
) -> Intent | None:
    """Begin a delivery: a new lease token, the lease renewed, the attempt counted, the
    `started` event recorded; None if the lease is lost.

    One guarded UPDATE … RETURNING (it takes the row lock too): the intent comes back as
    it now is, with the token the rest of the delivery is fenced by. The token changes
    so that a second copy of the same message (Dramatiq hands a message out again when
    it takes its worker for dead) finds the lease gone, and never calls out beside the
    first. On Postgres the event is written by the same statement (one round trip a
    delivery saved, and no ORM object to flush).
    """
    now = utcnow()
    values = {
        "id": intent_id,
        "token": lease_token,
        "new_token": str(uuid.uuid4()),
        "expires": now + timedelta(seconds=lease_seconds),
        "now": now,
    }
    if is_postgres(session):
        statement = select(Intent).from_statement(_START)
        options = {"populate_existing": True}
        return session.scalars(statement, values, execution_options=options).first()
    started = (
        update(Intent)
        .where(Intent.id == intent_id, Intent.status == ENQUEUED, Intent.lease_token == lease_token)
        .values(
            lease_token=values["new_token"],
            lease_expires_at=values["expires"],
            attempts=Intent.attempts + 1,
            updated_at=now,
        )
        .returning(Intent)
    )
    statement = select(Intent).from_statement(started).execution_options(populate_existing=True)
    intent = session.scalars(statement).first()
    if intent is not None:
        record_event(session, intent_id, "started", at=now, attempt=intent.attempts)
    return intent


_INTENT_COLUMNS = list(cast(Table, Intent.__table__).c)
# The intent's row as the start leaves it, by position (`columns` maps them to the entity).
# Formatted from this module's own constants and the table's column names, never input.
_START = text(
    f"""
    WITH started AS (
        UPDATE outbox
        SET lease_token = :new_token, lease_expires_at = :expires,
            attempts = outbox.attempts + 1, updated_at = :now
        WHERE id = :id AND status = '{ENQUEUED}' AND lease_token = :token
        RETURNING {", ".join(f"outbox.{c.name}" for c in _INTENT_COLUMNS)}
    ),
    logged AS (
        INSERT INTO intent_events (intent_id, at, kind, data)
        SELECT id, :now, 'started', jsonb_build_object('attempt', attempts) FROM started
    )
    SELECT * FROM started
    """  # noqa: S608
).columns(*_INTENT_COLUMNS)


def complete(
    session: Session,
    intent_id: int,
    lease_token: str,
    *,
    events: Iterable[tuple[str, dict[str, Any]]] = (),
) -> None:
    """Mark a leased intent done, append `events` (as `record_events`) and wake the relay.

    An intent of the same key that waits behind this one could not be claimed while
    this one was in flight; it can once this commits, so the relay is woken to claim
    it at once. Otherwise the NOTIFY says only `FREED`: room under RELAY_MAX_IN_FLIGHT,
    and perhaps a successor that committed after this statement's snapshot (it cannot
    be seen here, and the relay skipped it while this one was in flight). The relay
    claims on that within `FREED_PASS_SECONDS` of its last pass: one claim pass for
    many completions, not one each. On Postgres this is one statement.
    """
    if not is_postgres(session):
        _guarded(session, intent_id, lease_token, status=IntentStatus.DONE.value, last_error=None)
        record_events(session, intent_id, events)
        return
    rows = [{"at": at.isoformat(), "kind": kind, "data": data} for kind, at, data in _rows(events)]
    session.flush()  # events added before (ORM objects) keep their place in the timeline
    done = session.execute(
        _COMPLETE,
        {"id": intent_id, "token": lease_token, "now": utcnow(), "events": json.dumps(rows)},
    ).first()
    if done is None:
        raise LeaseLostError(f"intent {intent_id}: the lease {lease_token} is no longer held")


_COMPLETE = text(
    f"""
    WITH done AS (
        UPDATE outbox
        SET status = '{IntentStatus.DONE.value}', lease_token = NULL, lease_expires_at = NULL,
            last_error = NULL, updated_at = :now
        WHERE id = :id AND status = '{ENQUEUED}' AND lease_token = :token
        RETURNING id, key
    ),
    logged AS (
        INSERT INTO intent_events (intent_id, at, kind, data)
        SELECT done.id, e.at, e.kind, e.data
        FROM done, ROWS FROM (jsonb_to_recordset(CAST(:events AS jsonb))
                              AS (at timestamptz, kind text, data jsonb))
             WITH ORDINALITY AS e(at, kind, data, n)
        ORDER BY e.n
    )
    SELECT done.id,
           CASE WHEN EXISTS (SELECT 1 FROM outbox w
                             WHERE w.key = done.key AND w.status = '{PENDING}')
                THEN pg_notify('{NOTIFY_CHANNEL}', '')::text
                ELSE pg_notify('{NOTIFY_CHANNEL}', '{FREED}')::text END
    FROM done
    """  # noqa: S608
)


def fail(session: Session, intent_id: int, lease_token: str, error: str) -> None:
    """Mark a leased intent failed: a person or a re-drive must act.

    Its key is no longer in flight, so an intent of that key waiting behind it can be
    claimed: the relay is woken (failures are rare; the pass is worth it).
    """
    _guarded(session, intent_id, lease_token, status=IntentStatus.FAILED.value, last_error=error)
    notify(session)


def retry_later(
    session: Session,
    intent_id: int,
    lease_token: str,
    *,
    delay_seconds: float,
    error: str | None,
    attempts_delta: int = 0,
    payload: dict[str, Any] | None = None,
) -> datetime:
    """Send a leased intent back to pending, due after `delay_seconds`; returns when.

    `attempts_delta` corrects the count kept at start: -1 gives a throttled delivery's
    attempt back (pacing is not failure), +1 spends one for a delivery that crashed
    before its start was recorded.
    """
    due = utcnow() + timedelta(seconds=max(0.0, delay_seconds))
    values: dict[str, Any] = {"status": PENDING, "available_at": due, "last_error": error}
    if attempts_delta:
        changed = Intent.attempts + attempts_delta
        values["attempts"] = case((changed > 0, changed), else_=0)
    if payload is not None:
        values["payload"] = payload
    _guarded(session, intent_id, lease_token, **values)
    notify(session, due=due)
    return due


def renew_lease(session: Session, intent_id: int, lease_token: str, lease_seconds: float) -> None:
    """Push a leased intent's expiry to `lease_seconds` from now (a heartbeat)."""
    expires = utcnow() + timedelta(seconds=lease_seconds)
    _guarded(session, intent_id, lease_token, lease_expires_at=expires, keep_lease=True)


def supersede_failed(session: Session, key: str) -> int:
    """Mark the failed intents of `key` superseded: a re-drive has replaced them."""
    result = session.execute(
        update(Intent)
        .where(Intent.key == key, Intent.status == IntentStatus.FAILED.value)
        .values(status=IntentStatus.SUPERSEDED.value, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def discard(session: Session, intent_id: int, *, reason: str) -> bool:
    """Drop a pending or failed intent (an operator's decision); False if not discardable."""
    row = session.execute(
        update(Intent)
        .where(Intent.id == intent_id, Intent.status.in_(DISCARDABLE))
        .values(status=IntentStatus.DISCARDED.value, last_error=reason, updated_at=utcnow())
        .returning(Intent.id)
        .execution_options(synchronize_session=False)
    ).first()
    if row is not None:
        record_event(session, intent_id, "discarded", reason=reason)
    return row is not None


def record_event(
    session: Session, intent_id: int, kind: str, *, at: datetime | None = None, **data: Any
) -> None:
    """Append one event to the intent's timeline (`at`: when it happened, if not now)."""
    event = IntentEvent(intent_id=intent_id, kind=kind, data=data)
    if at is not None:
        event.at = at
    session.add(event)


def record_events(
    session: Session, intent_id: int, events: Iterable[tuple[str, dict[str, Any]]]
) -> None:
    """Append several events at once, in order: (kind, data), data's `at` saying when.

    One INSERT of every row: a batch of fifty S3 calls would otherwise be fifty ORM
    objects to flush. Events added before are flushed first, so the order holds.
    """
    rows = [{"intent_id": intent_id, "kind": k, "at": at, "data": d} for k, at, d in _rows(events)]
    if not rows:
        return
    # Through the entity, not its table: the ORM's bulk INSERT autoflushes the events
    # added before, which keeps the order (a Core INSERT on the table would not).
    session.execute(insert(IntentEvent), rows)


def _rows(
    events: Iterable[tuple[str, dict[str, Any]]],
) -> Iterator[tuple[str, datetime, dict[str, Any]]]:
    """(kind, at, data) for each event, `at` taken out of its data (now if it has none)."""
    for kind, event in events:
        data = dict(event)
        yield kind, data.pop("at", None) or utcnow(), data


def lag_seconds(session: Session, *, now: datetime | None = None) -> float:
    """Age of the oldest due pending intent: how far the relay is behind."""
    now = now or utcnow()
    oldest = session.scalar(
        select(func.min(Intent.available_at)).where(
            Intent.status == PENDING, Intent.available_at <= now
        )
    )
    return max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0


def _guarded(
    session: Session, intent_id: int, lease_token: str, *, keep_lease: bool = False, **values: Any
) -> None:
    """One fenced UPDATE of a leased intent; LeaseLostError when it matched nothing."""
    if values.get("status", ENQUEUED) != ENQUEUED and not keep_lease:
        values.update(lease_token=None, lease_expires_at=None)
    row = session.execute(
        update(Intent)
        .where(Intent.id == intent_id, Intent.status == ENQUEUED, Intent.lease_token == lease_token)
        .values(**values, updated_at=utcnow())
        .returning(Intent.id)
        .execution_options(synchronize_session="fetch")
    ).first()
    if row is None:
        raise LeaseLostError(f"intent {intent_id}: the lease {lease_token} is no longer held")
