"""The clock: a leader-only scheduler that queues periodic intents through the outbox.

Leadership is a Postgres session advisory lock (`pg_try_advisory_lock`) held on a
dedicated connection for as long as the process leads. A standby tries for it every
fraction of CLOCK_TAKEOVER_SECONDS: a killed leader's connection closes and Postgres
frees the lock at once; a leader whose host vanished is dropped by the server's TCP
keepalives within the takeover time, and the leader itself stops leading as soon as
its lock connection stops answering.

Each tick queues every schedule whose current slot it has not queued yet, in one short
transaction: a guarded UPDATE moves the schedule's `last_slot_at` on (so two clocks
that both think they lead still queue a slot once), and the intent is coalesced by key
(so a restart never doubles one). The work itself is done by the workers.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime

from sqlalchemy import Connection, create_engine, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from app import outbox, schedules, watchdog
from app.config import Settings
from app.db import is_postgres, utcnow
from app.models import ClockSchedule
from app.runtime import Runtime

log = logging.getLogger("doiflow.clock")

# pg_try_advisory_lock key: "doiflow clock" (distinct from the dashboard's).
LOCK_KEY = 0x64_6F_69_63_6C_6F_63_6B
TICK_SECONDS = 1.0


def clock_name() -> str:
    """This process, as the timeline and the beats name it."""
    return f"clock:{socket.gethostname()}:{os.getpid()}"


class Leadership:
    """The clock's advisory lock, on a connection of its own (not from the pool)."""

    def __init__(self, database_url: str, takeover_seconds: float) -> None:
        self.postgres = database_url.startswith("postgresql")
        idle = max(1, int(takeover_seconds / 2))
        count = max(1, int(takeover_seconds / 4))
        connect_args = {}
        if self.postgres:
            # Server side: a leader whose host vanished is dropped (lock freed) within
            # about idle + count seconds. Client side: a leader whose server vanished
            # notices within the takeover time, and stops leading.
            connect_args = {
                "options": f"-c tcp_keepalives_idle={idle} -c tcp_keepalives_interval=1 "
                f"-c tcp_keepalives_count={count}",
                "keepalives": 1,
                "keepalives_idle": idle,
                "keepalives_interval": 1,
                "keepalives_count": count,
                "tcp_user_timeout": int(takeover_seconds * 1000),
                "connect_timeout": max(2, int(takeover_seconds / 2)),
            }
        self.engine = create_engine(database_url, poolclass=NullPool, connect_args=connect_args)
        self.connection: Connection | None = None
        self.leading = False

    def acquire(self) -> bool:
        """Try once to become the leader; True when this process holds the lock.

        A standby keeps its connection between tries (one connection, not one a second).
        """
        if not self.postgres:
            return True
        try:
            if self.connection is None:
                self.connection = self.engine.connect().execution_options(
                    isolation_level="AUTOCOMMIT"
                )
            got = self.connection.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}
            )
        except Exception:
            log.warning("clock: database unreachable", extra={"action": "clock_unreachable"})
            self._drop()
            return False
        self.leading = bool(got)
        return self.leading

    def held(self) -> bool:
        """True while the lock connection answers (a lost connection lost the lock)."""
        if not self.postgres:
            return True
        if self.connection is None or not self.leading:
            return False
        try:
            self.connection.scalar(text("SELECT 1"))
            return True
        except Exception:
            self._drop()
            return False

    def release(self) -> None:
        """Give the lock up (closing the connection frees it in any case)."""
        if self.connection is not None and self.leading:
            try:
                self.connection.scalar(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
            except Exception:
                log.debug("clock: unlock failed; closing the connection frees it")
        self._drop()

    def _drop(self) -> None:
        connection, self.connection, self.leading = self.connection, None, False
        if connection is not None:
            try:
                connection.close()
            except Exception:
                log.debug("clock: closing a broken connection failed")

    def close(self) -> None:
        self.release()
        self.engine.dispose()


def tick(
    session: Session,
    settings: Settings,
    active: list[schedules.Active],
    *,
    now: datetime,
    by: str,
) -> list[str]:
    """Queue every schedule whose slot at `now` is not queued yet; the names queued."""
    last = {row.name: row.last_slot_at for row in session.scalars(select(ClockSchedule))}
    queued = []
    for item in active:
        schedule, slot = item.schedule, item.every.slot(now)
        previous = last.get(schedule.name)
        if previous is not None and previous >= slot:
            continue
        if not _claim_slot(session, schedule.name, previous, slot, now):
            continue  # another clock queued this slot
        intent = outbox.add(
            session,
            schedule.topic,
            key=schedule.intent_key,
            payload=schedule.intent_payload(settings),
        )
        outbox.record_event(
            session, intent.id, "scheduled", schedule=schedule.name, slot=slot.isoformat(), by=by
        )
        session.execute(
            update(ClockSchedule)
            .where(ClockSchedule.name == schedule.name)
            .values(last_intent_id=intent.id)
        )
        queued.append(schedule.name)
    return queued


def _claim_slot(
    session: Session, name: str, previous: datetime | None, slot: datetime, now: datetime
) -> bool:
    """Move the schedule's last slot from `previous` to `slot`, guarded; False if it moved."""
    if previous is None:
        insert = pg_insert if is_postgres(session) else sqlite_insert
        statement = (
            insert(ClockSchedule)
            .values(name=name, last_slot_at=slot, updated_at=now)
            .on_conflict_do_nothing(index_elements=["name"])
            .returning(ClockSchedule.name)
        )
        return session.execute(statement).first() is not None
    moved = session.execute(
        update(ClockSchedule)
        .where(ClockSchedule.name == name, ClockSchedule.last_slot_at == previous)
        .values(last_slot_at=slot, updated_at=now)
        .returning(ClockSchedule.name)
    ).first()
    return moved is not None


class Clock:
    """Leads when it can, and then ticks once a second until stopped."""

    def __init__(self, runtime: Runtime, *, name: str | None = None) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.active = schedules.active(self.settings)
        self.name = name or clock_name()
        self.leadership = Leadership(
            self.settings.database_url, self.settings.clock_takeover_seconds
        )
        self.poll = min(1.0, self.settings.clock_takeover_seconds / 4)

    def run_forever(self, stop: threading.Event) -> None:
        """Stand by until leading, lead until the lock is lost or `stop` is set."""
        log.info(
            "clock standing by",
            extra={"action": "clock_standby", "schedules": [a.schedule.name for a in self.active]},
        )
        try:
            while not stop.is_set():
                if not self.leadership.acquire():
                    stop.wait(self.poll)
                    continue
                log.info("clock leading", extra={"action": "clock_leading", "clock": self.name})
                self._lead(stop)
        finally:
            self.leadership.close()

    def _lead(self, stop: threading.Event) -> None:
        while not stop.is_set():
            if not self.leadership.held():
                log.warning("clock lost its lock", extra={"action": "clock_lost_lead"})
                return
            self.tick_once()
            stop.wait(TICK_SECONDS)
        self.leadership.release()

    def tick_once(self, now: datetime | None = None) -> list[str]:
        """One tick in its own transaction; a database error is logged and the next tick retries."""
        now = now or utcnow()
        try:
            with self.runtime.sessions.begin() as session:
                queued = tick(session, self.settings, self.active, now=now, by=self.name)
                watchdog.beat(session, self.name, kind="clock", now=now)
        except Exception:
            log.exception("clock tick failed", extra={"action": "clock_tick_failed"})
            return []
        if queued:
            log.info("clock queued", extra={"action": "clock_queued", "schedules": queued})
        return queued
