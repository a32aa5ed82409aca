"""What needs a person now: the one check behind `/api/health`, `doiflow doi check`
and the clock's snapshot.

Each check reports the present, never history: a DOI that failed and was re-driven no
longer counts, a failed intent that was superseded or discarded no longer counts.
Counts are bounded (`COUNT_LIMIT`), so a health probe stays cheap on a large table.

DataCite's reachability is the one remote check: `doiflow doi check` makes its GET
(`app.services.datacite_probe`, outside any transaction) and adds the answer as the
`datacite` check; `/api/health` never calls DataCite (a monitor scraping it every few
seconds would spend the shared rate limit, and the web path has no DataCite client).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Problem:
    """One thing that needs a person, with a message saying what to do."""

    check: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"check": self.check, "message": self.message}


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


def snapshot(session: Session, settings: Settings, *, now: datetime | None = None) -> dict:
    """The checks and the verdict as JSON (the clock's dashboard snapshot keeps it)."""
    checks = measure(session, settings, now=now)
    return {
        "checks": checks,
        "problems": [p.as_json() for p in problems_in(checks, settings)],
        "warnings": [w.as_json() for w in warnings_in(settings, checks)],
    }


def warnings_in(settings: Settings, checks: dict[str, Any] | None = None) -> list[Problem]:
    """What is worth knowing but needs no one now (the answer stays 200)."""
    found = []
    if not settings.s3_configured:
        found.append(
            Problem(
                "legal_holds",
                "S3 is not configured (S3_BUCKET is unset): published data is not protected "
                "by legal holds; set S3_BUCKET, then run `doiflow holds backfill`",
            )
        )
    checks = checks or {}
    waiting = checks.get("drafts_waiting_for_publish")
    if waiting and not settings.doi_publish:
        found.append(
            Problem(
                "drafts_waiting_for_publish",
                f"{_count(waiting)} version DOI(s) are drafts because DOI_PUBLISH is false; "
                "once it is true, `doiflow doi remediate` makes them findable",
            )
        )
    missing = checks.get("public_datasets_without_concept_doi")
    if missing and not settings.datacite_configured:
        found.append(
            Problem(
                "datacite_not_configured",
                f"DataCite is not configured: {_count(missing)} public dataset(s) have no DOI; "
                "set DATACITE_*, then run `doiflow doi remediate`",
            )
        )
    return found


def problems_in(checks: dict[str, Any], settings: Settings) -> list[Problem]:
    """One Problem per failing check."""
    if checks["database"] == "schema_outdated":
        return [Problem("schema", checks["schema"])]
    if checks["database"] != "ok":
        return [Problem("database", "the database is unreachable")]
    found = []
    lag, lag_limit = checks["outbox_lag_seconds"], settings.health_lag_seconds
    if lag > lag_limit:
        found.append(
            Problem(
                "outbox_lag",
                f"the oldest due intent has waited {lag:.0f} s (limit {lag_limit:.0f} s): "
                "is the relay running?",
            )
        )
    if checks["failed_dois"]:
        found.append(
            Problem(
                "failed_dois",
                f"{_count(checks['failed_dois'])} DOI(s) failed: read their last_error, fix the "
                "cause, then POST /api/dois/{doi}/retry",
            )
        )
    if checks["stuck_intents"]:
        found.append(
            Problem(
                "stuck_intents",
                f"{_count(checks['stuck_intents'])} intent(s) open for longer than "
                f"{settings.health_stuck_seconds:.0f} s: DataCite throttling, or no worker",
            )
        )
    if checks["concepts_waiting_on_a_failed_version"]:
        found.append(
            Problem(
                "concepts_waiting",
                f"{_count(checks['concepts_waiting_on_a_failed_version'])} concept DOI(s) wait "
                "for a version DOI that failed: re-drive the version DOI",
            )
        )
    relay = checks["seconds_since_a_relay_pass"]
    if lag > 0 and (relay is None or relay > settings.health_silent_seconds):
        since = "ever" if relay is None else f"for {relay:.0f} s"
        found.append(
            Problem(
                "relay_silent",
                f"intents are due but no relay has completed a pass {since}: "
                "is `doiflow relay` running (and not stuck)?",
            )
        )
    if checks["failed_holds"]:
        found.append(
            Problem(
                "failed_holds",
                f"{_count(checks['failed_holds'])} legal hold(s) failed (a missing object, a "
                "bucket without Object Lock, or S3 refusing): read their last_error, fix the "
                "cause, then re-drive the job (POST /api/jobs/{id}/retry)",
            )
        )
    if checks["blob_problems"]:
        found.append(
            Problem(
                "blob_problems",
                f"{_count(checks['blob_problems'])} blob version(s) differ from what S3 holds "
                "(a hold missing or unexpected, an object missing, a checksum, or a delete S3 "
                "refused): run `doiflow holds verify` to see them, `--fix` to restore holds",
            )
        )
    found.extend(_doi_problems(checks, settings))
    silent = checks["seconds_since_a_delivery_finished"]
    if checks["enqueued_intents"] and (silent is None or silent > settings.health_silent_seconds):
        since = "ever" if silent is None else f"for {silent:.0f} s"
        found.append(
            Problem(
                "workers_silent",
                f"{_count(checks['enqueued_intents'])} intent(s) are enqueued but no delivery "
                f"has finished {since}: are the workers running?",
            )
        )
    clock = checks.get("seconds_since_a_clock_tick")
    if clock is not None and clock > settings.health_silent_seconds:
        found.append(
            Problem(
                "clock_silent",
                f"no clock has ticked for {clock:.0f} s: nothing is pruned, snapshotted or "
                "checked on schedule; is `doiflow clock` running?",
            )
        )
    datacite = checks.get("datacite")
    if datacite is not None and datacite not in ("ok", "not configured"):
        found.append(
            Problem(
                "datacite",
                f"DataCite did not accept an authenticated GET: {datacite}; check "
                "DATACITE_API_URL, DATACITE_USER and DATACITE_PASSWORD (docs/operations.md)",
            )
        )
    return found


def _doi_problems(checks: dict[str, Any], settings: Settings) -> list[Problem]:
    """DOIs that are not where the archive wants them, and DOIs that should exist."""
    found = []
    if checks.get("dois_behind_target"):
        found.append(
            Problem(
                "dois_behind_target",
                f"{_count(checks['dois_behind_target'])} DOI(s) have been short of their target "
                f"for longer than {settings.health_stuck_seconds:.0f} s: look at their intents "
                "(throttling, failed holds, no worker); `doiflow doi remediate` re-queues "
                "any that nothing is moving",
            )
        )
    if settings.datacite_configured:
        for check, what in (
            ("public_datasets_without_concept_doi", "public dataset(s) have no concept DOI"),
            ("versions_without_doi", "published version(s) of public datasets have no DOI"),
        ):
            if checks.get(check):
                found.append(
                    Problem(check, f"{_count(checks[check])} {what}: run `doiflow doi remediate`")
                )
    if settings.doi_publish and checks.get("drafts_waiting_for_publish"):
        found.append(
            Problem(
                "drafts_waiting_for_publish",
                f"{_count(checks['drafts_waiting_for_publish'])} version DOI(s) are drafts made "
                "while DOI_PUBLISH was false: run `doiflow doi remediate` to make them findable",
            )
        )
    return found


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


def _count(value: int) -> str:
    return f"{COUNT_LIMIT}+" if value > COUNT_LIMIT else str(value)
