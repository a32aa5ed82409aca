"""The figures behind the health verdict (`app.services.health`): one per check.

Each check reports the present, never history: a DOI that failed and was re-driven no
longer counts, a failed intent that was superseded or discarded no longer counts.
Counts are bounded (`COUNT_LIMIT`), so a health probe stays cheap on a large table.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, cast, exists, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from app import outbox, watchdog
from app.config import Settings
from app.db import utcnow
from app.enums import DoiKind, DoiState, DoiTarget, HoldState, IntentStatus
from app.models import (
    Blob,
    DashboardSnapshot,
    Dataset,
    Doi,
    Intent,
    IntentEvent,
    LegalHold,
    Version,
)

# Beyond this many, "1000+" is all a person needs to know.
COUNT_LIMIT = 1000
# DOIs behind their target examined for being stuck: the oldest this many.
CANDIDATES = 5000
OPEN = (IntentStatus.PENDING.value, IntentStatus.ENQUEUED.value)
# Events that end a delivery: a worker that writes none of these is not working.
FINISHED = ("done", "retry", "snooze", "fail", "dropped")


def measure(
    session: Session,
    settings: Settings,
    *,
    now: datetime | None = None,
    archive_wide: bool = True,
    known: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The figures the verdict is made from.

    `archive_wide=False` (per request: `/api/health`, the dashboard) takes the checks that
    read every dataset and version (ARCHIVE_WIDE) from the newest snapshot instead, which
    the clock refreshes every 30 s; None when there is none yet. `known` ones (a recent
    count the caller holds) are not recounted.
    """
    now = now or utcnow()
    known = known or {}
    stuck_before = now - timedelta(seconds=settings.health_stuck_seconds)
    checks = _indexed(session, settings, now, stuck_before, known)
    if archive_wide:
        checks.update(
            public_datasets_without_concept_doi=_bounded(session, _datasets_without_concept()),
            versions_without_doi=_bounded(session, _versions_without_doi()),
        )
    else:
        checks.update(_from_snapshot(session, now))
    return checks


# Anti-joins over every dataset and version (hundreds of ms on 100k datasets): computed by
# the clock's snapshot and `doiflow doi check`, read from the snapshot per request.
ARCHIVE_WIDE = ("public_datasets_without_concept_doi", "versions_without_doi")


def _from_snapshot(session: Session, now: datetime) -> dict[str, Any]:
    latest = session.scalars(
        select(DashboardSnapshot).order_by(DashboardSnapshot.taken_at.desc()).limit(1)
    ).first()
    taken = (latest.data.get("health") or {}).get("checks", {}) if latest is not None else {}
    found: dict[str, Any] = {name: taken.get(name) for name in ARCHIVE_WIDE}
    found["archive_wide_checked_seconds_ago"] = (
        round((now - latest.taken_at).total_seconds(), 1) if taken and latest is not None else None
    )
    return found


def _indexed(
    session: Session,
    settings: Settings,
    now: datetime,
    stuck_before: datetime,
    known: Mapping[str, int],
) -> dict[str, Any]:
    """The checks each answered from an index (bounded counts): cheap per request."""
    return {
        "database": "ok",
        "outbox_lag_seconds": round(outbox.lag_seconds(session, now=now), 1),
        "failed_dois": _bounded(session, select(Doi.id).where(Doi.state == DoiState.FAILED.value)),
        "stuck_intents": _bounded(
            session,
            select(Intent.id).where(Intent.status.in_(OPEN), Intent.created_at < stuck_before),
        ),
        "concepts_waiting_on_a_failed_version": _bounded(session, _waiting_concepts()),
        "seconds_since_a_delivery_finished": _since_last_delivery(session, now),
        "enqueued_intents": _bounded(
            session, select(Intent.id).where(Intent.status == IntentStatus.ENQUEUED.value)
        ),
        "seconds_since_a_relay_pass": watchdog.seconds_since(session, "relay", now=now),
        "seconds_since_a_clock_tick": watchdog.seconds_since(session, "clock", now=now),
        "failed_holds": _bounded(
            session, select(LegalHold.id).where(LegalHold.state == HoldState.FAILED.value)
        ),
        # No index can serve it (a scan of every blob): the dashboard passes its snapshot's.
        "blob_problems": known["blob_problems"]
        if "blob_problems" in known
        else blob_problems(session),
        "dois_behind_target": _count_behind(session, settings, stuck_before),
        "drafts_waiting_for_publish": _bounded(session, _waiting_drafts()),
    }


def blob_problems(session: Session) -> int:
    """Blob versions `holds verify` found differing from S3 (bounded count)."""
    return _bounded(session, select(Blob.id).where(Blob.check_problem.is_not(None)))


# Short of its target: the state is not the target, and not settled (failed is counted
# apart, deleted is final). Written as the predicate of the partial index ix_dois_behind.
SETTLED = (DoiState.FAILED.value, DoiState.DELETED.value)


def _count_behind(session: Session, settings: Settings, before: datetime) -> int:
    """DOIs short of their target since before `before`: syncing that long, or not at all.

    Two steps, so the first is always a walk of the small partial index ix_dois_behind
    (Postgres cannot estimate `state <> target` and, asked in one statement, scans
    every DOI): the oldest CANDIDATES DOIs behind their target, then which of them are
    stuck, by primary key.
    """
    behind = select(Doi.id).where(Doi.state != Doi.target, Doi.state.not_in(SETTLED))
    if not settings.doi_publish:
        # Waiting for DOI_PUBLISH by configuration: reported as drafts waiting instead.
        behind = behind.where(
            Doi.target.not_in((DoiTarget.FINDABLE.value, DoiTarget.REGISTERED.value))
        )
    ids = list(session.scalars(behind.order_by(Doi.id).limit(CANDIDATES)))
    if not ids:
        return 0
    open_sync = aliased(Intent)
    key = literal("doi:") + cast(Doi.id, String)
    syncing_long = exists().where(
        open_sync.key == key, open_sync.status.in_(OPEN), open_sync.created_at < before
    )
    syncing = exists().where(open_sync.key == key, open_sync.status.in_(OPEN))
    stuck = select(Doi.id).where(
        Doi.id.in_(ids),
        Doi.created_at < before,
        or_(syncing_long, and_(~syncing, Doi.updated_at < before)),
    )
    return _bounded(session, stuck)


def _public_live() -> Any:
    return and_(Dataset.embargoed.is_(False), Dataset.deleted_at.is_(None))


def _datasets_without_concept() -> Any:
    concept = exists().where(Doi.dataset_id == Dataset.id, Doi.kind == DoiKind.CONCEPT.value)
    return select(Dataset.id).where(_public_live(), ~concept)


def _versions_without_doi() -> Any:
    has_doi = exists().where(Doi.version_id == Version.id)
    return (
        select(Version.id)
        .join(Dataset, Dataset.id == Version.dataset_id)
        .where(_public_live(), Version.deleted_at.is_(None), ~has_doi)
    )


def _waiting_drafts() -> Any:
    """Version DOIs of live versions held as drafts: DOI_PUBLISH was false when published."""
    return (
        select(Doi.id)
        .join(Version, Version.id == Doi.version_id)
        .join(Dataset, Dataset.id == Doi.dataset_id)
        .where(
            # The predicate of the partial index ix_dois_draft_versions.
            Doi.kind == DoiKind.VERSION.value,
            Doi.target == DoiTarget.DRAFT.value,
            Doi.state.not_in(SETTLED),
            Version.deleted_at.is_(None),
            _public_live(),
        )
    )


def _waiting_concepts() -> Any:
    """Concepts headed for findable with no findable version, while a version DOI failed."""
    version = aliased(Doi)
    findable_version = aliased(Doi)
    failed_version = exists().where(
        version.dataset_id == Doi.dataset_id,
        version.kind == DoiKind.VERSION.value,
        version.state == DoiState.FAILED.value,
    )
    any_findable = exists().where(
        findable_version.dataset_id == Doi.dataset_id,
        findable_version.kind == DoiKind.VERSION.value,
        findable_version.state == DoiState.FINDABLE.value,
        findable_version.version_id == Version.id,
        Version.deleted_at.is_(None),
    )
    return select(Doi.id).where(
        Doi.kind == DoiKind.CONCEPT.value,
        Doi.target == DoiTarget.FINDABLE.value,
        Doi.state != DoiState.FINDABLE.value,
        failed_version,
        ~any_findable,
    )


def _since_last_delivery(session: Session, now: datetime) -> float | None:
    # One max per kind: each is a single backward step of ix_intent_events_kind_at, where a
    # max over `kind IN (...)` walks the index (50 ms over three million events).
    per_kind = [
        select(func.max(IntentEvent.at)).where(IntentEvent.kind == kind).scalar_subquery()
        for kind in FINISHED
    ]
    found = [at for at in session.execute(select(*per_kind)).one() if at is not None]
    return round((now - max(found)).total_seconds(), 1) if found else None


def _bounded(session: Session, ids: Any) -> int:
    return int(
        session.scalar(select(func.count()).select_from(ids.limit(COUNT_LIMIT + 1).subquery())) or 0
    )
