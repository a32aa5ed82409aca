"""The `doi.reconcile` topic: a reconciliation queued on the doi queue, and its handler.

The handler reads DataCite in `execute` (no transaction open), then compares and, when
asked, fixes in `record`. The clock schedules it nightly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app import outbox
from app.clients.errors import PermanentError, RemoteDoi, RemoteError
from app.clients.remotes import Remotes
from app.config import Settings
from app.db import utcnow
from app.models import Intent
from app.retry import RetryDecision
from app.runner import Failure
from app.services.reconcile import Report, compare_page, known_dois
from app.services.reconcile_fix import fix
from app.services.reconcile_read import bucket_taker, read
from app.topics import RECONCILE

log = logging.getLogger("doiflow.reconcile")


def schedule(session: Session, *, fix: bool = False, dataset_ids: Iterable[str] = ()) -> Intent:
    """Queue a reconciliation on the doi queue (the clock's nightly call); coalesced."""
    payload: dict[str, Any] = {"fix": fix}
    ids = list(dataset_ids)
    if ids:
        payload["datasets"] = ids
    return outbox.add(session, RECONCILE, key=RECONCILE.name, payload=payload)


@dataclass(frozen=True)
class Plan:
    known: tuple[str, ...]
    dataset_ids: tuple[str, ...]
    fix: bool


@dataclass
class Outcome:
    remote: dict[str, RemoteDoi | None] = field(default_factory=dict)
    read_at: datetime | None = None
    error: RemoteError | None = None


class ReconcileHandler:
    """Runner handler for `doi.reconcile`: read DataCite, then compare and fix in `record`."""

    topic = RECONCILE

    def prepare(self, session: Session, settings: Settings, intent: Intent) -> Plan | None:
        if not settings.datacite_configured:
            return None
        ids = tuple(str(i) for i in intent.payload.get("datasets") or ())
        return Plan(tuple(known_dois(session, ids)), ids, bool(intent.payload.get("fix")))

    def execute(self, remotes: Remotes, plan: Plan) -> Outcome:
        client = remotes.datacite
        if client is None:
            return Outcome(error=PermanentError("DataCite is not configured in this worker"))
        take = bucket_taker(remotes.datacite_bucket)
        listed, read_at = not plan.dataset_ids, utcnow()
        remote = read(client, remotes.settings, take, list(plan.known), listed=listed)
        return Outcome(remote, read_at)

    def record(
        self,
        session: Session,
        settings: Settings,
        intent: Intent,
        plan: Plan | None,
        outcome: Outcome | Failure,
        decision: RetryDecision | None,
    ) -> RetryDecision | None:
        """Compare, fix when asked, and keep the report on the intent's timeline."""
        if plan is None or decision is not None or not isinstance(outcome, Outcome):
            return None
        report = Report(listed=not plan.dataset_ids, read_at=outcome.read_at)
        compare_page(session, settings, outcome.remote, report)
        if plan.fix and report.drifts:
            report.queued = fix(
                session, settings, report.drifts, actor="doiflow:reconcile", read_at=report.read_at
            )
        outbox.record_event(session, intent.id, "reconciled", **report.as_json())
        log.log(
            logging.WARNING if report.drifts else logging.INFO,
            "reconciled with DataCite",
            extra={"action": "reconcile", **report.counts(), "queued": report.queued},
        )
        return None

    def context(self, plan: Plan) -> dict[str, Any]:
        return {"dois": len(plan.known), "fix": plan.fix}


HANDLER = ReconcileHandler()
