"""Pruning the outbox: settled intents older than OUTBOX_RETENTION, a batch at a time.

Done, superseded and discarded intents go with their `intent_events` timeline rows;
failed and open intents stay (they need a person or are still work). The DOI and hold
histories (`doi_transitions`, `hold_transitions`) keep the story: they only name the
intent's id. Each batch is one short transaction of at most `batch` intents, taken with
SKIP LOCKED, so pruning never holds a long lock or waits behind an operator's action.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.enums import IntentStatus
from app.models import Intent, IntentEvent

PRUNABLE = (
    IntentStatus.DONE.value,
    IntentStatus.SUPERSEDED.value,
    IntentStatus.DISCARDED.value,
)


def prune_batch(session: Session, *, now: datetime, retention_seconds: float, batch: int) -> int:
    """Delete up to `batch` settled intents last changed before the retention; how many."""
    cutoff = now - timedelta(seconds=retention_seconds)
    ids = list(
        session.scalars(
            select(Intent.id)
            .where(Intent.status.in_(PRUNABLE), Intent.updated_at < cutoff)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
    )
    if not ids:
        return 0
    session.execute(
        delete(IntentEvent)
        .where(IntentEvent.intent_id.in_(ids))
        .execution_options(synchronize_session=False)
    )
    # Guarded: a row whose status changed since (it cannot, it is locked) would stay.
    deleted = session.execute(
        delete(Intent)
        .where(Intent.id.in_(ids), Intent.status.in_(PRUNABLE))
        .execution_options(synchronize_session=False)
    )
    return int(deleted.rowcount or 0)  # type: ignore[attr-defined]
