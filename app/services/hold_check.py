"""Checking S3 against the database: one HEAD per blob version doiflow knows.

Reports missing holds (published, not held), unexpected holds (held, not published or
released by the backdoor), missing objects and checksum mismatches (S3's stored
size or SHA-256 against the record). Findings are kept on the blob (`check_problem`),
so the health check sees them; `fix` queues the missing holds, it never removes one.

`doiflow holds verify` runs it concurrently from the command line; the `verify_holds`
topic runs it a page at a time on the holds queue (the clock schedules it weekly).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import outbox
from app.clients.errors import MissingObjectError, PermanentError, RemoteError
from app.clients.remotes import Remotes
from app.clients.storage import StorageClient
from app.config import Settings
from app.db import utcnow
from app.enums import HoldState, HoldTarget
from app.models import Blob, Intent, LegalHold
from app.retry import RetryDecision
from app.runner import Failure
from app.services import holds
from app.services.hold_slots import slot
from app.states.hold import apply
from app.topics import VERIFY_HOLDS

KINDS = ("missing_hold", "unexpected_hold", "missing_object", "checksum_mismatch")


@dataclass(frozen=True)
class Expected:
    """One blob version as the database has it, and whether S3 should hold it."""

    blob_id: int
    key: str
    version_id: str
    sha256: str
    size: int
    want_held: bool
    hold_state: str | None


@dataclass(frozen=True)
class Finding:
    blob_id: int
    key: str
    version_id: str
    kind: str
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "version_id": self.version_id,
            "problem": self.kind,
            "detail": self.detail,
        }


def expectations(session: Session, *, after: int = 0, limit: int = 500) -> list[Expected]:
    """A page of blob versions (by id, after `after`) with what S3 should hold."""
    rows = session.execute(
        select(Blob, holds.published(Blob.id).label("published"))
        .where(Blob.id > after, Blob.deleted_at.is_(None))
        .order_by(Blob.id)
        .limit(limit)
    ).all()
    found = []
    for blob, published in rows:
        hold = blob.hold
        released = hold is not None and hold.release_reason is not None
        found.append(
            Expected(
                blob.id,
                blob.key,
                blob.version_id,
                blob.sha256,
                blob.size,
                want_held=bool(published) and not released,
                hold_state=hold.state if hold is not None else None,
            )
        )
    return found


def inspect(storage: StorageClient, item: Expected) -> Finding | None:
    """One HEAD: what is wrong with this blob version in S3, or None."""

    def finding(kind: str, detail: str) -> Finding:
        return Finding(item.blob_id, item.key, item.version_id, kind, detail)

    try:
        info = storage.head(item.key, item.version_id)
    except MissingObjectError:
        return finding("missing_object", "no such object version in S3")
    if info.size != item.size or (info.sha256 is not None and info.sha256 != item.sha256):
        return finding(
            "checksum_mismatch",
            f"S3 has {info.size} bytes, sha256 {info.sha256}; recorded {item.size}, {item.sha256}",
        )
    if item.hold_state == HoldState.PENDING.value:
        return None  # being applied or released right now
    if item.want_held and not info.held:
        return finding("missing_hold", "published, but S3 has no legal hold on it")
    if not item.want_held and info.held:
        return finding("unexpected_hold", "S3 holds it, but no published version references it")
    return None


@dataclass
class Report:
    """What one run found, and what it queued."""

    checked: int = 0
    findings: list[Finding] = field(default_factory=list)
    queued: int = 0

    def counts(self) -> dict[str, int]:
        return {kind: sum(f.kind == kind for f in self.findings) for kind in KINDS}


def record(
    session: Session,
    settings: Settings,
    checked: list[Expected],
    findings: list[Finding],
    *,
    fix: bool,
) -> int:
    """Keep the findings on the blobs; with `fix`, queue the missing holds. Returns how many."""
    by_blob = {f.blob_id: f for f in findings}
    now = utcnow()
    for blob in session.scalars(select(Blob).where(Blob.id.in_([e.blob_id for e in checked]))):
        found = by_blob.get(blob.id)
        blob.checked_at = now
        blob.check_problem = f"{found.kind}: {found.detail}" if found else None
    if not fix:
        return 0
    missing = [f.blob_id for f in findings if f.kind == "missing_hold"]
    queued = [_rearm(session, blob_id) for blob_id in missing]
    session.flush()
    holds.queue_apply(session, settings, queued)
    return len(queued)


def _rearm(session: Session, blob_id: int) -> int:
    """The hold of a published blob S3 does not hold: back to pending, heading on."""
    hold = next(iter(holds.locked_holds_of(session, [blob_id])), None)
    if hold is None:
        hold = LegalHold(blob_id=blob_id, target=HoldTarget.ON.value)
        session.add(hold)
        session.flush()
        return hold.id
    if hold.state == HoldState.ON.value:
        apply(hold, "lose", detail="S3 did not hold it (doiflow holds verify --fix)")
    holds.rearm(hold, "doiflow holds verify --fix")
    return hold.id


@dataclass(frozen=True)
class Plan:
    items: tuple[Expected, ...]
    fix: bool


@dataclass
class Outcome:
    findings: list[Finding] = field(default_factory=list)
    error: RemoteError | None = None


class VerifyHoldsHandler:
    """Runner handler for `verify_holds`: one page of HEADs, then the next page is queued."""

    topic = VERIFY_HOLDS

    def prepare(self, session: Session, settings: Settings, intent: Intent) -> Plan | None:
        page = expectations(
            session, after=int(intent.payload.get("after", 0)), limit=settings.hold_batch_size
        )
        return Plan(tuple(page), bool(intent.payload.get("fix"))) if page else None

    def execute(self, remotes: Remotes, plan: Plan) -> Outcome:
        storage = remotes.storage
        if storage is None:
            return Outcome(error=PermanentError("S3_BUCKET is not set in this worker"))
        outcome = Outcome()
        with slot(remotes):
            for item in plan.items:
                found = inspect(storage, item)
                if found is not None:
                    outcome.findings.append(found)
        return outcome

    def record(
        self,
        session: Session,
        settings: Settings,
        intent: Intent,
        plan: Plan | None,
        outcome: Outcome | Failure,
        decision: RetryDecision | None,
    ) -> RetryDecision | None:
        """Keep the page's findings and queue the next page (the runner retries errors)."""
        if plan is None or decision is not None or not isinstance(outcome, Outcome):
            return None
        record(session, settings, list(plan.items), outcome.findings, fix=plan.fix)
        if len(plan.items) >= settings.hold_batch_size:
            schedule(session, after=plan.items[-1].blob_id, fix=plan.fix)
        return None

    def context(self, plan: Plan) -> dict[str, Any]:
        return {"first_blob_id": plan.items[0].blob_id, "blobs": len(plan.items)}


def schedule(session: Session, *, after: int = 0, fix: bool = False) -> Intent:
    """Queue a check of every blob version from `after` on (the clock's weekly call)."""
    payload = {"after": after, "fix": fix}
    return outbox.add(session, VERIFY_HOLDS, key=f"verify_holds:{after}", payload=payload)


HANDLER = VerifyHoldsHandler()
