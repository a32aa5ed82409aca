"""Re-queuing a failed intent: guarded, and recorded on its timeline."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models import Intent, IntentEvent
from app.runtime import Runtime
from app.services import intents
from app.services.errors import ConflictError


def _intent(runtime: Runtime, status: str) -> int:
    with runtime.sessions.begin() as session:
        intent = Intent(topic="set_hold", queue="holds", key="blob:1", status=status, attempts=4)
        session.add(intent)
        session.flush()
        return intent.id


def test_a_failed_intent_goes_back_to_pending_with_fresh_attempts(runtime: Runtime) -> None:
    intent_id = _intent(runtime, "failed")
    with runtime.sessions.begin() as session:
        intents.requeue(session, intent_id, actor="admin:a@example.org", reason="bucket fixed")
    with runtime.sessions() as session:
        intent = session.get(Intent, intent_id)
        assert intent is not None
        assert (intent.status, intent.attempts) == ("pending", 0)
        event = session.scalars(select(IntentEvent).where(IntentEvent.intent_id == intent_id)).one()
    assert (event.kind, event.data) == (
        "operator",
        {"who": "admin:a@example.org", "action": "requeue", "reason": "bucket fixed"},
    )


@pytest.mark.parametrize("status", ["pending", "enqueued", "done", "superseded", "discarded"])
def test_anything_but_failed_is_refused_and_unchanged(runtime: Runtime, status: str) -> None:
    intent_id = _intent(runtime, status)
    with pytest.raises(ConflictError), runtime.sessions.begin() as session:
        intents.requeue(session, intent_id, actor="admin:a@example.org", reason="x")
    with runtime.sessions() as session:
        intent = session.get(Intent, intent_id)
        assert intent is not None
        assert (intent.status, intent.attempts) == (status, 4)
        assert session.scalars(select(IntentEvent)).first() is None
