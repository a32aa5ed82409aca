"""Fixing the drift reconciling found, without ever writing to DataCite.

`fix` marks each drifting DOI "look first" (what DataCite holds is unknown again, as after
a re-drive) and queues a sync through the DOI policy and the outbox, whose delivery reads
DataCite's record, records its real state and re-sends what differs.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import utcnow
from app.enums import DoiState
from app.models import Doi
from app.services import audit
from app.services.doi_policy import request_sync
from app.services.reconcile import FIXABLE, Drift, in_flight


def fix(
    session: Session,
    settings: Settings,
    drifts: list[Drift],
    *,
    actor: str,
    read_at: datetime | None = None,
) -> int:
    """Queue a look-first sync for every DOI with fixable drift; returns how many were queued.

    Each DOI is locked and re-checked: one that changed since it was read (`read_at`; a
    sync queued or in doubt meanwhile) is left to that sync.
    """
    by_doi: dict[str, list[Drift]] = {}
    for item in drifts:
        if item.kind in FIXABLE:
            by_doi.setdefault(item.doi, []).append(item)
    queued = 0
    for name, found in by_doi.items():
        doi = session.scalars(select(Doi).where(Doi.doi == name).with_for_update()).first()
        if doi is None or doi.in_doubt or doi.state == DoiState.DELETED.value:
            continue
        if read_at is not None and doi.updated_at >= read_at:
            continue
        if in_flight(session, [doi]):
            continue
        # What DataCite holds is unknown again: the delivery looks before it decides. No
        # write of ours is in flight, so nobody waits the write grace.
        grace = timedelta(seconds=settings.datacite_write_grace_seconds)
        doi.in_doubt_since = utcnow() - grace
        session.flush()
        if request_sync(session, settings, doi) is not None:
            queued += 1
        audit.record(
            session,
            actor,
            "reconcile_fix",
            doi.doi,
            reason="DataCite differs from doiflow",
            drift=[d.as_json() for d in found],
        )
    return queued
