"""How the relay takes work from the outbox: one set-based claim, and giving claims back.

On Postgres the claim is one statement: pick due pending intents (oldest per key, none
whose key is in flight) with `FOR UPDATE SKIP LOCKED`, lease them, log a `claimed`
event for each, and say when the next pending intent is due, all in one round trip.
The two per-key checks are scalar subqueries with `LIMIT 1`, which Postgres runs as
index probes on `(key, status)` for each candidate: written as `NOT EXISTS`, they
became anti-joins whose plan depended on fresh statistics (a Materialize of every
enqueued row, 170 ms a claim at 10k in flight).
SQLite (the embedded default) takes the portable ORM path in `app.outbox`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, BIGINT, TEXT
from sqlalchemy.orm import Session

from app import outbox
from app.db import is_postgres, utcnow
from app.enums import IntentStatus
from app.models import Intent
from app.outbox import Claim

CLAIM = text(
    """
    WITH due AS (
        SELECT o.id
        FROM outbox o
        WHERE o.status = 'pending'
          AND o.available_at <= :now
          AND (SELECT 1 FROM outbox f
               WHERE f.key = o.key AND f.status = 'enqueued' LIMIT 1) IS NULL
          AND (SELECT 1 FROM outbox p
               WHERE p.key = o.key AND p.status = 'pending' AND p.id < o.id LIMIT 1) IS NULL
        ORDER BY o.available_at, o.id
        LIMIT :limit
        FOR UPDATE OF o SKIP LOCKED
    ),
    claimed AS (
        UPDATE outbox
        SET status = 'enqueued', lease_token = gen_random_uuid()::text,
            lease_expires_at = :expires, updated_at = :now
        FROM due
        WHERE outbox.id = due.id
        RETURNING outbox.id, outbox.topic, outbox.queue, outbox.lease_token
    ),
    logged AS (
        INSERT INTO intent_events (intent_id, at, kind, data)
        SELECT id, :now, 'claimed',
               jsonb_build_object('message_id', id::text,
                                  'lease_expires_at', CAST(:expires_text AS text))
        FROM claimed
    )
    SELECT c.id, c.topic, c.queue, c.lease_token, n.next_due
    FROM (SELECT min(available_at) AS next_due FROM outbox
          WHERE status = 'pending' AND available_at > :now) n
    LEFT JOIN claimed c ON true
    ORDER BY c.id
    """
)

# For this transaction only: the claim is always a walk of ix_outbox_due in order that
# stops at LIMIT, with the per-key probes above. Stale or missing statistics (a burst
# of inserts, enqueues since the last ANALYZE) otherwise make Postgres sort every due
# row first, or JIT-compile a plan it costs at millions (200 ms, for 1 ms of work).
# And the claim's COMMIT does not wait for its WAL to reach the disk: a claim lost in a
# database crash is harmless (the row is back to pending with its old lease, and the
# message already sent carries a lease token the worker's fenced start refuses), while
# the flush is the largest part of the time from an intent's commit to its message.
STEADY_PLAN = text(
    "SELECT set_config('jit', 'off', true), set_config('enable_sort', 'off', true),"
    " set_config('enable_bitmapscan', 'off', true),"
    " set_config('synchronous_commit', 'off', true)"
)

RELEASE = text(
    """
    UPDATE outbox
    SET status = 'pending', lease_token = NULL, lease_expires_at = NULL, updated_at = :now
    FROM unnest(:ids, :tokens) AS released(id, token)
    WHERE outbox.id = released.id AND outbox.lease_token = released.token
      AND outbox.status = 'enqueued'
    """
).bindparams(bindparam("ids", type_=ARRAY(BIGINT)), bindparam("tokens", type_=ARRAY(TEXT)))


@dataclass(frozen=True)
class Batch:
    """One claim: the leased intents, and seconds until the next pending one is due."""

    claims: list[Claim]
    next_due_in: float | None  # None: nothing pending is due later


def claim_due(
    session: Session, *, limit: int, lease_seconds: float, now: datetime | None = None
) -> list[Claim]:
    """Lease up to `limit` due intents, the oldest per key, none whose key is in flight."""
    return claim_batch(session, limit=limit, lease_seconds=lease_seconds, now=now).claims


def claim_batch(
    session: Session, *, limit: int, lease_seconds: float, now: datetime | None = None
) -> Batch:
    """`claim_due`, and when the next pending intent is due, in one round trip.

    The relay sleeps until then when the batch is not full, so a snoozed intent (a 429,
    our rate limit) is claimed the moment it is due.
    """
    now = now or utcnow()
    if not is_postgres(session):
        claims = outbox.claim_due(session, limit=limit, lease_seconds=lease_seconds, now=now)
        return Batch(claims, seconds_to_next_due(session, now=now))
    expires = now + timedelta(seconds=lease_seconds)
    session.execute(STEADY_PLAN)
    rows = session.execute(
        CLAIM,
        {"now": now, "limit": limit, "expires": expires, "expires_text": expires.isoformat()},
    ).all()
    # By position (id, topic, queue, lease_token, next_due): attribute access per row
    # is a measurable part of a 500-row claim.
    claims = [Claim(r[0], r[1], r[2], r[3]) for r in rows if r[0] is not None]
    nxt = rows[0][4] if rows else None
    return Batch(claims, None if nxt is None else max(0.0, (nxt - now).total_seconds()))


def release(session: Session, claims: list[Claim], *, now: datetime | None = None) -> int:
    """Put claims back to pending at once (their messages never reached the broker).

    Fenced by each claim's lease token, so a claim already rescued and re-leased by
    another relay is left alone.
    """
    if not claims:
        return 0
    now = now or utcnow()
    if is_postgres(session):
        ids = [c.intent_id for c in claims]
        tokens = [c.lease_token for c in claims]
        result = session.execute(RELEASE, {"now": now, "ids": ids, "tokens": tokens})
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
    released = 0
    for claim in claims:
        result = session.execute(
            update(Intent)
            .where(
                Intent.id == claim.intent_id,
                Intent.lease_token == claim.lease_token,
                Intent.status == IntentStatus.ENQUEUED.value,
            )
            .values(status=IntentStatus.PENDING.value, lease_token=None, lease_expires_at=None)
            .execution_options(synchronize_session=False)
        )
        released += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return released


def in_flight(session: Session, *, up_to: int) -> int:
    """How many intents are enqueued, counted no further than `up_to` (a bounded index scan)."""
    enqueued = select(Intent.id).where(Intent.status == IntentStatus.ENQUEUED.value).limit(up_to)
    return int(session.scalar(select(func.count()).select_from(enqueued.subquery())) or 0)


def seconds_to_next_due(session: Session, *, now: datetime | None = None) -> float | None:
    """Seconds until the next pending intent becomes due (an index lookup); None if none."""
    now = now or utcnow()
    nxt = session.scalar(
        select(func.min(Intent.available_at)).where(
            Intent.status == IntentStatus.PENDING.value, Intent.available_at > now
        )
    )
    return None if nxt is None else max(0.0, (nxt - now).total_seconds())
