"""Telling the archive: the events, noticed at flush time and written to the outbox.

Events: `job.finished`, `job.failed` (a publish run), `doi.reached_target` (a DOI is
where the archive wants it: ready to show under "Cite as"), `doi.failed`, `hold.failed`.
They are noticed where every change meets the database, at flush time (`after_flush`
listeners on the process's session factory), so no call site can forget one; each
becomes an `archive_webhook` intent in the transaction of the change that caused it.

Order per dataset: every event of a dataset has the key `webhook:{dataset}`, and the
relay claims the oldest pending intent of a key only when none of that key is in
flight (`app.claiming`), so a dataset's events leave one at a time, in the order they
were written, however often one is retried. At least once: a delivery whose answer was
lost is sent again; the event id (also in `X-Doiflow-Event-Id`) lets the archive drop
the duplicate. Retries follow the runner's rules with ARCHIVE_WEBHOOK_MAX_ATTEMPTS
tries, so an archive that is down gets its events later. The POST itself is in
`app.services.webhooks` (workers only).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import utcnow
from app.enums import DoiState, HoldState, IntentStatus, JobStatus
from app.models import Doi, Intent, Job, LegalHold, Version, version_blobs
from app.topics import ARCHIVE_WEBHOOK

NOTICED = "doiflow_archive_events"  # session.info: events noticed by the flush under way
EVENT_TYPES = ("job.finished", "job.failed", "doi.reached_target", "doi.failed", "hold.failed")
# Within one flush: the hold, then the DOI it held up, then the job they end.
RANK = {
    "hold.failed": 0,
    "doi.failed": 1,
    "doi.reached_target": 1,
    "job.failed": 2,
    "job.finished": 2,
}


def install(sessions: sessionmaker[Session], settings: Settings) -> None:
    """Emit events from every session this factory makes (when a webhook is configured)."""
    if settings.archive_webhook_url is None:
        return

    def after_flush(session: Session, _context: Any) -> None:
        # Ids are assigned now and each attribute's history still shows what this flush
        # changed; the intents are added once the flush is over (commit flushes them).
        with session.no_autoflush:
            changed = [*session.new, *session.dirty]
            found = [e for obj in changed for e in _events_of(session, obj)]
        session.info.setdefault(NOTICED, []).extend(found)

    def after_flush_postexec(session: Session, _context: Any) -> None:
        found = session.info.pop(NOTICED, [])
        found.sort(key=lambda e: (RANK.get(e["type"], 3), e["subject"]))
        for item in found:
            emit(session, item.pop("dataset"), item.pop("type"), item.pop("subject"), item)

    event.listen(sessions, "after_flush", after_flush)
    event.listen(sessions, "after_flush_postexec", after_flush_postexec)


def emit(session: Session, dataset: str, kind: str, subject: str, data: dict[str, Any]) -> Intent:
    """Queue one event for the archive (never coalesced: every event is sent)."""
    body = {
        "id": str(uuid.uuid4()),
        "type": kind,
        "occurred_at": utcnow().isoformat(),
        "dataset": dataset,
        "subject": subject,
        "data": data,
    }
    intent = Intent(
        topic=ARCHIVE_WEBHOOK.name,
        queue=ARCHIVE_WEBHOOK.queue,
        key=f"webhook:{dataset}",
        payload={"event": body},
        status=IntentStatus.PENDING.value,
        available_at=utcnow(),
    )
    session.add(intent)
    return intent


def _changed_to(obj: Any, attribute: str) -> str | None:
    """The new value of `attribute` when this flush changes it, else None."""
    history = inspect(obj).attrs[attribute].history
    if not history.added or history.added == history.deleted:
        return None
    return str(history.added[0])


def _events_of(session: Session, obj: Any) -> list[dict[str, Any]]:
    if isinstance(obj, Job):
        status = _changed_to(obj, "status")
        if status not in (JobStatus.FINISHED.value, JobStatus.FAILED.value):
            return []
        version = session.get(Version, obj.version_id) if obj.version_id else None
        return [
            {
                "type": f"job.{status}",
                "dataset": obj.dataset_id,
                "subject": f"job:{obj.id}",
                "job": obj.id,
                "version": version.name if version else None,
                "status": status,
            }
        ]
    if isinstance(obj, Doi):
        return _doi_events(obj)
    if isinstance(obj, LegalHold):
        if _changed_to(obj, "state") != HoldState.FAILED.value:
            return []
        return [
            {
                "type": "hold.failed",
                "dataset": dataset,
                "subject": f"hold:{obj.id}",
                "key": obj.blob.key,
                "version_id": obj.blob.version_id,
                "error": obj.last_error,
            }
            for dataset in _datasets_holding(session, obj.blob_id)
        ]
    return []


def _doi_events(doi: Doi) -> list[dict[str, Any]]:
    state = _changed_to(doi, "state")
    if state is None:
        return []
    if state == DoiState.FAILED.value:
        kind = "doi.failed"
    elif state == doi.target:
        kind = "doi.reached_target"
    else:
        return []
    return [
        {
            "type": kind,
            "dataset": doi.dataset_id,
            "subject": f"doi:{doi.id}",
            "doi": doi.doi,
            "kind": doi.kind,
            "state": state,
            "target": doi.target,
            "error": doi.last_error if state == DoiState.FAILED.value else None,
        }
    ]


def _datasets_holding(session: Session, blob_id: int) -> list[str]:
    """Every dataset with a version that references the blob (its hold is theirs)."""
    query = (
        select(Version.dataset_id)
        .join(version_blobs, version_blobs.c.version_id == Version.id)
        .where(version_blobs.c.blob_id == blob_id)
        .distinct()
        .order_by(Version.dataset_id)
    )
    return list(session.scalars(query))
