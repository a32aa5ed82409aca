"""The `maintain` topic: the clock's snapshot refresh, and a task nobody knows."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app import outbox, schedules
from app.admin.queries import dashboard
from app.db import utcnow
from app.models import Intent, IntentEvent
from app.topics import MAINTAIN
from tests.fixtures.pipeline import wait_until
from tests.support.lifecycle import open_intents
from workers.clock import tick


def test_the_snapshot_task_takes_a_dashboard_snapshot_with_the_health_checks(
    make_pipeline,
) -> None:
    pipeline = make_pipeline(CLOCK_SCHEDULES="prune_outbox=off,prune_stashes=off,reconcile=off")
    runtime = pipeline.runtime
    active = schedules.active(runtime.settings)
    # Two slots: the second snapshot sees the first one's delivery finished
    for now in (utcnow(), utcnow() + timedelta(seconds=31)):
        with runtime.sessions.begin() as session:
            assert tick(session, runtime.settings, active, now=now, by="test") == [
                "refresh_snapshot"
            ]
        wait_until(lambda: not open_intents(runtime))
    with runtime.sessions() as session:
        snapshot = dashboard.newest(session)
        tasks = [
            e.data for e in session.scalars(select(IntentEvent).where(IntentEvent.kind == "task"))
        ]
    assert tasks == [{"task": "refresh_snapshot", "count": 1}] * 2
    assert snapshot is not None
    # the snapshot's own intent is in flight while it counts
    assert snapshot.data["intents"] == {"done": 1, "enqueued": 1}
    health = snapshot.data["health"]
    assert health["problems"] == []
    assert health["checks"]["failed_dois"] == 0


def test_a_task_nobody_knows_fails_its_intent_for_a_person(make_pipeline) -> None:
    pipeline = make_pipeline()
    runtime = pipeline.runtime
    with runtime.sessions.begin() as session:
        outbox.add(session, MAINTAIN, key="clock:mystery", payload={"task": "mystery"})
    wait_until(lambda: not open_intents(runtime))
    with runtime.sessions() as session:
        intent = session.scalars(select(Intent)).one()
    assert intent.status == "failed"
    assert "no maintenance task named 'mystery'" in (intent.last_error or "")
