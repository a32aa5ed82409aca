"""What needs a person now: the checks behind `/api/health` (and, later, `doiflow doi check`).

Each check reports the present, never history: a DOI that failed and was re-driven no
longer counts, a failed intent that was superseded or discarded no longer counts.
Counts are bounded (`COUNT_LIMIT`), so a health probe stays cheap on a large table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, aliased

from app import outbox, watchdog
from app.config import Settings
from app.db import utcnow
from app.enums import DoiKind, DoiState, DoiTarget, HoldState, IntentStatus
from app.models import Blob, Doi, Intent, IntentEvent, LegalHold, Version

# Beyond this many, "1000+" is all a person needs to know.
COUNT_LIMIT = 1000
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


def measure(session: Session, settings: Settings, *, now: datetime | None = None) -> dict[str, Any]:
    """The figures the verdict is made from."""
    now = now or utcnow()
    stuck_before = now - timedelta(seconds=settings.health_stuck_seconds)
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
        "failed_holds": _bounded(
            session, select(LegalHold.id).where(LegalHold.state == HoldState.FAILED.value)
        ),
        "blob_problems": _bounded(session, select(Blob.id).where(Blob.check_problem.is_not(None))),
    }


def warnings_in(settings: Settings) -> list[Problem]:
    """What is worth knowing but needs no one now (the answer stays 200)."""
    if settings.s3_configured:
        return []
    return [
        Problem(
            "legal_holds",
            "S3 is not configured (S3_BUCKET is unset): published data is not protected by "
            "legal holds; set S3_BUCKET, then run `doiflow holds backfill`",
        )
    ]


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
    return found


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
