"""Pruning settled intents in batches, through the clock's schedule and the real runner."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event, func, select, text

from app import claiming, schedules
from app.db import utcnow
from app.models import DoiTransition, Intent, IntentEvent
from tests.fixtures.pipeline import wait_until
from tests.support.lifecycle import concept, create, doi_row, open_intents
from workers.clock import tick

OLD_DONE = 10_000
RECENT_DONE = 20_000

FILL = """
INSERT INTO outbox (created_at, updated_at, topic, queue, key, payload, status, attempts,
                    available_at)
SELECT now() - make_interval(days => :age_days), now() - make_interval(days => :age_days),
       'sync_doi', 'doi', 'doi:filler-' || :label || '-' || g, '{}'::jsonb, :status, 1,
       now() - make_interval(days => :age_days)
FROM generate_series(1, :rows) g
"""
EVENTS = """
INSERT INTO intent_events (intent_id, at, kind, data)
SELECT id, updated_at, kind, '{}'::jsonb FROM outbox, (VALUES ('started'), ('done')) k(kind)
WHERE key LIKE 'doi:filler-%'
"""


def _fill(session, label: str, status: str, rows: int, age_days: int) -> None:
    session.execute(
        text(FILL), {"label": label, "status": status, "rows": rows, "age_days": age_days}
    )


def _claim_plan(runtime) -> list[str]:
    """EXPLAIN of the relay's claim statement, as ops/benchmarks/claim_plan.py takes it."""
    statements: list[tuple[str, object]] = []

    def capture(_conn, _cursor, sql, params, *_args) -> None:
        statements.append((sql, params))

    event.listen(runtime.engine, "before_cursor_execute", capture)
    try:
        with runtime.sessions() as session:
            claiming.claim_due(session, limit=100, lease_seconds=30)
            session.rollback()
    finally:
        event.remove(runtime.engine, "before_cursor_execute", capture)
    sql, params = next((s, p) for s, p in statements if "FOR UPDATE OF o SKIP LOCKED" in s)
    with runtime.engine.connect() as conn:
        cursor = conn.connection.cursor()
        cursor.execute("EXPLAIN " + sql, params)
        return [row[0] for row in cursor.fetchall()]


def test_old_settled_intents_are_pruned_in_batches_and_the_story_stays(make_pipeline) -> None:
    pipeline = make_pipeline(CLOCK_SCHEDULES="refresh_snapshot=off,prune_stashes=off,reconcile=off")
    runtime = pipeline.runtime
    # Given a DOI synced by an intent that is now more than a week old
    create(runtime, "ds1")
    wait_until(lambda: doi_row(runtime, concept("ds1")).state == "draft")
    wait_until(lambda: not open_intents(runtime))
    week_ago = utcnow() - timedelta(days=8)
    with runtime.sessions.begin() as session:
        session.execute(text("UPDATE outbox SET updated_at = :at"), {"at": week_ago})
        # and 10,000 done intents as old, 20,000 recent ones, and old ones of every status
        _fill(session, "old", "done", OLD_DONE, age_days=8)
        _fill(session, "recent", "done", RECENT_DONE, age_days=1)
        for status in ("superseded", "discarded", "failed"):
            _fill(session, status, status, 1, age_days=30)
        session.execute(text(EVENTS))
        session.execute(text("ANALYZE outbox"))
    with runtime.sessions() as session:
        history_before = session.scalar(select(func.count()).select_from(DoiTransition))
    assert history_before >= 1

    # When the clock queues the prune and the workers run it
    with runtime.sessions.begin() as session:
        active = schedules.active(runtime.settings)
        assert tick(session, runtime.settings, active, now=utcnow(), by="test") == ["prune_outbox"]
    wait_until(lambda: not open_intents(runtime), timeout=120)

    with runtime.sessions() as session:
        batches = [
            e.data["count"]
            for e in session.scalars(
                select(IntentEvent).where(IntentEvent.kind == "task").order_by(IntentEvent.id)
            )
        ]
        left = dict(
            session.execute(
                select(Intent.status, func.count())
                .where(Intent.topic == "sync_doi")
                .group_by(Intent.status)
            ).all()
        )
        orphan_events = session.scalar(
            text(
                "SELECT count(*) FROM intent_events e WHERE NOT EXISTS "
                "(SELECT 1 FROM outbox o WHERE o.id = e.intent_id)"
            )
        )
        history_after = session.scalar(select(func.count()).select_from(DoiTransition))
        prune_intents = session.scalar(
            select(func.count()).select_from(Intent).where(Intent.topic == "maintain")
        )
    # Then every old settled intent is gone (10,000 + the DOI's sync + superseded +
    # discarded), a thousand per short transaction, each batch its own intent
    assert batches == [1000] * 10 + [3]
    assert prune_intents == 11
    assert left == {"done": RECENT_DONE, "failed": 1}
    assert orphan_events == 0
    # and the DOI's history still tells what happened, naming the pruned intent
    assert history_after == history_before
    transitions = doi_row(runtime, concept("ds1")).history
    assert [t.to_state for t in transitions] == ["draft"]
    assert transitions[0].intent_id is not None

    # And the relay's claim is still an index scan of the due rows
    pipeline.stop()
    with runtime.sessions.begin() as session:
        _fill(session, "due", "pending", 200, age_days=0)
    plan = "\n".join(_claim_plan(runtime))
    assert "ix_outbox_due" in plan, plan
    assert "Seq Scan on outbox" not in plan, plan
