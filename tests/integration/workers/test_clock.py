"""The clock's tick and its leadership lock, on real Postgres (times passed as `now=`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text

from app import schedules
from app.models import ClockSchedule, Intent, IntentEvent
from app.runtime import Runtime
from tests.fixtures.pipeline import wait_until
from workers.clock import Clock, Leadership, _claim_slot, tick

NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _clock(make_runtime: Callable[..., Runtime], **overrides: str) -> Clock:
    schedules = "prune_outbox=1h,refresh_snapshot=30s,prune_stashes=off,reconcile=off"
    runtime = make_runtime(CLOCK_SCHEDULES=schedules, **overrides)
    return Clock(runtime, name="clock:test")


def _scheduled(runtime: Runtime) -> list[tuple[str, str]]:
    """(schedule, slot) of every `scheduled` event, oldest first."""
    with runtime.sessions() as session:
        events = session.scalars(
            select(IntentEvent).where(IntentEvent.kind == "scheduled").order_by(IntentEvent.id)
        )
        return [(e.data["schedule"], e.data["slot"]) for e in events]


def _intents(runtime: Runtime) -> list[tuple[str, str, str]]:
    with runtime.sessions() as session:
        rows = session.scalars(select(Intent).order_by(Intent.id))
        return [(i.topic, i.key, i.status) for i in rows]


def test_each_schedule_is_queued_once_per_slot(make_runtime: Callable[..., Runtime]) -> None:
    clock = _clock(make_runtime)
    # Given a clock that never ran: everything is due at once
    assert clock.tick_once(NOON) == ["prune_outbox", "refresh_snapshot"]
    # When it ticks again within the same slots, then nothing more is queued
    assert clock.tick_once(NOON + timedelta(seconds=10)) == []
    # When the snapshot's next slot starts, then only the snapshot is queued again
    assert clock.tick_once(NOON + timedelta(seconds=31)) == ["refresh_snapshot"]
    assert _intents(clock.runtime) == [
        ("maintain", "clock:prune_outbox", "pending"),
        # coalesced: the first snapshot intent was still waiting
        ("maintain", "clock:refresh_snapshot", "pending"),
    ]
    assert _scheduled(clock.runtime) == [
        ("prune_outbox", "2026-12-01T12:00:00+00:00"),
        ("refresh_snapshot", "2026-12-01T12:00:00+00:00"),
        ("refresh_snapshot", "2026-12-01T12:00:30+00:00"),
    ]


def test_a_schedule_missed_for_many_slots_is_queued_once(
    make_runtime: Callable[..., Runtime],
) -> None:
    clock = _clock(make_runtime)
    clock.tick_once(NOON)
    with clock.runtime.sessions.begin() as session:
        for intent in session.scalars(select(Intent)):
            intent.status = "done"  # the workers did the work
    # When no clock ran for five hours and one returns
    later = NOON + timedelta(hours=5, minutes=1)
    assert clock.tick_once(later) == ["prune_outbox", "refresh_snapshot"]
    # Then each schedule is queued once, for the current slot, not once per missed slot
    assert clock.tick_once(later + timedelta(seconds=1)) == []
    with clock.runtime.sessions() as session:
        slots = {r.name: r.last_slot_at for r in session.scalars(select(ClockSchedule))}
    assert slots["prune_outbox"] == datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
    assert [s for s in _scheduled(clock.runtime) if s[0] == "prune_outbox"] == [
        ("prune_outbox", "2026-12-01T12:00:00+00:00"),
        ("prune_outbox", "2026-12-01T17:00:00+00:00"),
    ]


def test_two_clocks_ticking_the_same_slot_queue_it_once(
    make_runtime: Callable[..., Runtime],
) -> None:
    # Given two clocks that both believe they lead (say, one whose lock was lost mid-tick)
    runtime = make_runtime(CLOCK_SCHEDULES="refresh_snapshot=off,prune_stashes=off,reconcile=off")
    active = schedules.active(runtime.settings)
    seen: dict[str, list[str]] = {}

    def second_clock() -> None:
        with runtime.sessions.begin() as session:
            seen["b"] = tick(session, runtime.settings, active, now=NOON, by="b")

    with runtime.sessions.begin() as first:
        assert tick(first, runtime.settings, active, now=NOON, by="a") == ["prune_outbox"]
        # When the second ticks the same slot before the first commits, it waits on the row
        other = threading.Thread(target=second_clock)
        other.start()
        wait_until(lambda: _waiting_on_a_lock(runtime))
    other.join(timeout=10)
    # Then its guarded insert finds the first's slot and queues nothing
    assert seen == {"b": []}
    assert _by(runtime) == [("prune_outbox", "a")]


def _waiting_on_a_lock(runtime: Runtime) -> bool:
    with runtime.sessions() as session:
        waiting = text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool(session.scalar(waiting))


def _by(runtime: Runtime) -> list[tuple[str, str]]:
    with runtime.sessions() as session:
        events = session.scalars(select(IntentEvent).where(IntentEvent.kind == "scheduled"))
        return [(e.data["schedule"], e.data["by"]) for e in events]


def test_a_slot_read_before_another_clock_moved_it_is_not_moved_again(
    make_runtime: Callable[..., Runtime],
) -> None:
    runtime = make_runtime(CLOCK_SCHEDULES="refresh_snapshot=off,prune_stashes=off,reconcile=off")
    active = schedules.active(runtime.settings)
    with runtime.sessions.begin() as session:
        tick(session, runtime.settings, active, now=NOON, by="a")
    later = NOON + timedelta(hours=1)
    with runtime.sessions.begin() as session:
        assert tick(session, runtime.settings, active, now=later, by="fresh") == ["prune_outbox"]
    # A clock that read the noon slot before that commit cannot move it from noon any more
    with runtime.sessions.begin() as session:
        assert not _claim_slot(session, "prune_outbox", NOON, later, later)
    assert [by for name, by in _by(runtime) if name == "prune_outbox"] == ["a", "fresh"]


def test_one_leader_at_a_time_and_a_standby_takes_over_when_it_lets_go(
    make_runtime: Callable[..., Runtime],
) -> None:
    runtime = make_runtime()
    url = runtime.settings.database_url
    leader, standby = Leadership(url, 10), Leadership(url, 10)
    try:
        assert leader.acquire()
        assert not standby.acquire()
        assert leader.held()
        # When the leader's connection goes (a killed process closes it), the lock is free
        assert leader.connection is not None
        leader.connection.close()
        assert not leader.held()
        assert standby.acquire()
        assert not leader.acquire()
    finally:
        leader.close()
        standby.close()
