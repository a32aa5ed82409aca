"""Operator actions: each audited once, each shown on the intents it touched."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models import AuditLog, Doi, Intent, IntentEvent
from app.runtime import Runtime
from app.services import operator
from app.services.errors import ConflictError
from tests.support.lifecycle import concept, create

ACTOR = "admin:ops@example.org"


def _fail_concept(runtime: Runtime, dataset: str) -> tuple[int, int]:
    """A concept DOI left failed by its only intent; (doi id, intent id)."""
    create(runtime, dataset)
    with runtime.sessions.begin() as session:
        doi = session.scalars(select(Doi).where(Doi.doi == concept(dataset))).one()
        intent = session.scalars(select(Intent).where(Intent.key == f"doi:{doi.id}")).one()
        doi.state, intent.status = "failed", "failed"
        return doi.id, intent.id


def test_retrying_a_failed_dois_intent_redrives_the_doi(runtime: Runtime) -> None:
    doi_id, intent_id = _fail_concept(runtime, "one")
    with runtime.sessions.begin() as session:
        message = operator.retry_intent(
            runtime.settings, session, intent_id, actor=ACTOR, reason="fixed"
        )
    assert "re-driven" in message
    with runtime.sessions() as session:
        doi = session.get(Doi, doi_id)
        assert doi is not None
        assert doi.state == "pending"
        statuses = {row.id: row.status for row in session.execute(select(Intent.id, Intent.status))}
        events = list(
            session.scalars(select(IntentEvent).where(IntentEvent.intent_id == intent_id))
        )
        audit = session.scalars(select(AuditLog)).one()
    assert statuses[intent_id] == "superseded"
    assert sorted(statuses.values()) == ["pending", "superseded"]
    assert [(e.kind, e.data["who"], e.data["action"]) for e in events] == [
        ("operator", ACTOR, "redrive")
    ]
    assert (audit.actor, audit.action, audit.target, audit.reason) == (
        ACTOR,
        "intent.retry",
        f"intent:{intent_id}",
        "fixed",
    )


def test_discarding_twice_is_refused_the_second_time(runtime: Runtime) -> None:
    _, intent_id = _fail_concept(runtime, "two")
    with runtime.sessions.begin() as session:
        operator.discard_intent(session, intent_id, actor=ACTOR, reason="dup")
    with pytest.raises(ConflictError, match="only pending or failed"):
        with runtime.sessions.begin() as session:
            operator.discard_intent(session, intent_id, actor=ACTOR, reason="dup")
    with runtime.sessions() as session:
        kinds = list(session.scalars(select(IntentEvent.kind).order_by(IntentEvent.id)))
        assert kinds == ["discarded", "operator"]
        assert len(session.scalars(select(AuditLog)).all()) == 1


def test_a_bulk_action_skips_what_is_no_longer_eligible(runtime: Runtime) -> None:
    _, first = _fail_concept(runtime, "three")
    _, second = _fail_concept(runtime, "four")
    with runtime.sessions.begin() as session:
        operator.discard_intent(session, second, actor=ACTOR, reason="earlier")
    with runtime.sessions.begin() as session:
        result = operator.bulk(
            runtime.settings,
            session,
            "discard",
            [first, second],
            actor=ACTOR,
            reason="cleanup",
            target="outbox: status=failed",
        )
    assert (result.changed, result.skipped) == ([first], 1)
