"""Intents of any topic put back in line by a person: a guarded reset of a failed intent."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from app import outbox
from app.db import utcnow
from app.enums import IntentStatus
from app.models import Intent
from app.services.errors import ConflictError


def requeue(session: Session, intent_id: int, *, actor: str, reason: str) -> None:
    """failed → pending, due now, with fresh attempts; ConflictError unless it was failed."""
    now = utcnow()
    row = session.execute(
        update(Intent)
        .where(Intent.id == intent_id, Intent.status == IntentStatus.FAILED.value)
        .values(
            status=IntentStatus.PENDING.value,
            available_at=now,
            attempts=0,
            lease_token=None,
            lease_expires_at=None,
            updated_at=now,
        )
        .returning(Intent.id)
        .execution_options(synchronize_session="fetch")
    ).first()
    if row is None:
        raise ConflictError(f"intent {intent_id} is not failed; only failed intents are re-queued")
    outbox.record_event(session, intent_id, "operator", who=actor, action="requeue", reason=reason)
    outbox.notify(session)
