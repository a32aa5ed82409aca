"""The dashboard's snapshot: grouped counts and throughput, taken at most every N seconds.

A page view reads the newest `dashboard_snapshots` row. The view that finds it older
than ADMIN_SNAPSHOT_SECONDS takes a new one in its own short transaction (one process
at a time: a Postgres advisory lock; the others keep showing the last one), each
section under a statement_timeout, so no page view ever counts a large table itself.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app import outbox
from app.config import Settings
from app.db import is_postgres, utcnow
from app.models import DashboardSnapshot, Doi, Intent, IntentEvent, LegalHold
from app.runtime import Runtime
from app.services import health, health_checks

log = logging.getLogger("doiflow.admin")

SECTION_TIMEOUT_MS = 5000
KEEP = timedelta(hours=1)
# pg_try_advisory_xact_lock key: "doiflow dashboard" (any constant other locks do not use).
LOCK_KEY = 0x64_6F_69_66_64_61_73_68
OUTCOMES = ("done", "retry", "snooze", "fail")
MINUTES = 24 * 60


def current(runtime: Runtime, max_age_seconds: float) -> DashboardSnapshot | None:
    """The newest snapshot, refreshed first when it is older than `max_age_seconds`."""
    with runtime.sessions() as session:
        latest = newest(session)
    if latest is None or _age(latest) > max_age_seconds:
        fresh = refresh(runtime, max_age_seconds)
        latest = fresh or latest
    return latest


def newest(session: Session) -> DashboardSnapshot | None:
    """The newest snapshot row, if any."""
    return session.scalars(
        select(DashboardSnapshot).order_by(DashboardSnapshot.taken_at.desc()).limit(1)
    ).first()


def refresh(runtime: Runtime, max_age_seconds: float) -> DashboardSnapshot | None:
    """Take a snapshot unless another process is taking one (None) or just took one."""
    with runtime.sessions.begin() as session:
        return refresh_in(session, max_age_seconds, runtime.settings)


def refresh_in(
    session: Session, max_age_seconds: float, settings: Settings | None = None
) -> DashboardSnapshot | None:
    """`refresh` inside the caller's transaction (the clock's `refresh_snapshot` task)."""
    if is_postgres(session) and not session.scalar(
        select(func.pg_try_advisory_xact_lock(LOCK_KEY))
    ):
        return None
    latest = newest(session)
    if latest is not None and _age(latest) <= max_age_seconds:
        return latest
    started, now = time.monotonic(), utcnow()
    data = take(session, now, settings)
    data["elapsed_ms"] = round((time.monotonic() - started) * 1000)
    snapshot = DashboardSnapshot(taken_at=now, data=data)
    session.add(snapshot)
    session.execute(delete(DashboardSnapshot).where(DashboardSnapshot.taken_at < now - KEEP))
    session.flush()
    log.info(
        "dashboard snapshot taken",
        extra={"action": "admin_snapshot", "elapsed_ms": data["elapsed_ms"]},
    )
    return snapshot


def refresh_task(
    session: Session, *, now: datetime, max_age_seconds: float = 0, settings: Settings
) -> int:
    """The clock's `refresh_snapshot` task: 1 when a snapshot was taken, else 0."""
    return 1 if refresh_in(session, max_age_seconds, settings) is not None else 0


def take(session: Session, now: datetime, settings: Settings | None = None) -> dict[str, Any]:
    """The figures: DOIs per state (and kind), intents per status (and topic), outbox lag and
    oldest pending age, legal holds per state, throughput, health. `/metrics` reads them too."""
    sections: dict[str, Any] = {
        "dois_by_kind": lambda: _pairs(session, Doi.state, Doi.kind),
        "intents_by_topic": lambda: _pairs(session, Intent.status, Intent.topic),
        "holds": lambda: _grouped(session, LegalHold.state),
        # A scan of every blob: counted here, not by each view's health checks.
        "blob_problems": lambda: health_checks.blob_problems(session),
        "lag_seconds": lambda: round(outbox.lag_seconds(session, now=now), 1),
        "oldest_pending_seconds": lambda: _oldest_pending(session, now),
        "throughput": lambda: throughput(session, now),
    }
    if settings is not None:
        sections["health"] = lambda: health.snapshot(session, settings, now=now)
    data: dict[str, Any] = {"errors": []}
    for name, compute in sections.items():
        try:
            with session.begin_nested():
                if is_postgres(session):
                    session.execute(text(f"SET LOCAL statement_timeout = {SECTION_TIMEOUT_MS}"))
                data[name] = compute()
        except OperationalError:
            log.warning(
                "dashboard section failed",
                extra={"action": "admin_snapshot_section", "section": name},
            )
            data[name] = None
            data["errors"].append(f"{name}: took longer than {SECTION_TIMEOUT_MS} ms")
    # The dashboard's per-state counts, summed from the finer ones (one scan each).
    data["dois"] = _totals(data["dois_by_kind"])
    data["intents"] = _totals(data["intents_by_topic"])
    return data


def _pairs(session: Session, first: Any, second: Any) -> list[list[Any]]:
    """`[[first, second, count], …]`, grouped by both columns."""
    rows = session.execute(select(first, second, func.count()).group_by(first, second))
    return [[str(a), str(b), int(n)] for a, b, n in rows]


def _totals(pairs: list[list[Any]] | None) -> dict[str, int] | None:
    if pairs is None:
        return None
    totals: dict[str, int] = {}
    for first, _, count in pairs:
        totals[first] = totals.get(first, 0) + count
    return totals


def _oldest_pending(session: Session, now: datetime) -> float:
    """Seconds since the oldest pending intent was written (0 when none waits), due or not."""
    oldest = session.scalar(select(func.min(Intent.created_at)).where(Intent.status == "pending"))
    return round(max(0.0, (now - _as_utc(oldest)).total_seconds()), 1) if oldest else 0.0


def throughput(session: Session, now: datetime) -> dict[str, Any]:
    """Deliveries per minute by outcome over the last 24 h: `{kind: {minute offset: n}}`."""
    start = (now - timedelta(minutes=MINUTES - 1)).replace(second=0, microsecond=0)
    if is_postgres(session):
        minute = func.date_trunc("minute", IntentEvent.at)
    else:
        minute = func.strftime("%Y-%m-%d %H:%M:00", IntentEvent.at)
    rows = session.execute(
        select(minute.label("minute"), IntentEvent.kind, func.count())
        .where(IntentEvent.kind.in_(OUTCOMES), IntentEvent.at >= start)
        .group_by(text("1"), IntentEvent.kind)
    )
    series: dict[str, dict[str, int]] = {kind: {} for kind in OUTCOMES}
    for at, kind, count in rows:
        offset = int((_as_utc(at) - start).total_seconds() // 60)
        if 0 <= offset < MINUTES:
            series[kind][str(offset)] = series[kind].get(str(offset), 0) + int(count)
    return {"start": start.isoformat(), "minutes": MINUTES, "series": series}


def _grouped(session: Session, column: Any) -> dict[str, int]:
    rows = session.execute(select(column, func.count()).group_by(column))
    return {str(value): int(count) for value, count in rows}


def _age(snapshot: DashboardSnapshot) -> float:
    return (utcnow() - snapshot.taken_at).total_seconds()


def _as_utc(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
