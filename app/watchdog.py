"""Processes saying they are alive and moving, and how long ago each kind last said so."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from app.db import is_postgres, utcnow
from app.models import ProcessBeat


def beat(session: Session, name: str, *, kind: str, now: datetime | None = None) -> None:
    """Record that process `name` completed a pass just now (an upsert)."""
    now = now or utcnow()
    if is_postgres(session):
        statement = pg_insert(ProcessBeat).values(name=name, kind=kind, started_at=now, beat_at=now)
        session.execute(
            statement.on_conflict_do_update(index_elements=["name"], set_={"beat_at": now})
        )
        return
    row = session.get(ProcessBeat, name)
    if row is None:
        session.add(ProcessBeat(name=name, kind=kind, started_at=now, beat_at=now))
    else:
        row.beat_at = now


def seconds_since(session: Session, kind: str, *, now: datetime | None = None) -> float | None:
    """Seconds since any process of `kind` last beat; None when none ever did."""
    last = session.scalar(select(func.max(ProcessBeat.beat_at)).where(ProcessBeat.kind == kind))
    return None if last is None else round(((now or utcnow()) - last).total_seconds(), 1)
