"""The `apply_hold` topic: PutObjectLegalHold ON (or OFF) for a small batch of blob versions.

Each intent carries HOLD_BATCH_SIZE hold ids at most; the calls run one after another
in one HOLD_CONCURRENCY slot. A hold is marked `on` only after S3 answered the PUT;
a transient error stops the batch (the confirmed holds are kept, the rest retried by
the runner's rules), a missing object fails just that hold. The target is re-read
when recording: a hold whose target changed while its call was in flight is queued again.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.clients.errors import MissingObjectError, PermanentError, RemoteError
from app.clients.remotes import Remotes
from app.config import Settings
from app.db import utcnow
from app.enums import HoldState, HoldTarget
from app.models import Blob, HoldTransition, Intent, LegalHold
from app.retry import RetryDecision
from app.runner import Failure
from app.services import hold_progress, holds
from app.services.hold_slots import slot
from app.states.hold import TransitionNotAllowed, apply, target_of
from app.topics import APPLY_HOLD

log = logging.getLogger("doiflow.holds")


@dataclass(frozen=True)
class Item:
    hold_id: int
    key: str
    version_id: str
    on: bool


@dataclass(frozen=True)
class Plan:
    items: tuple[Item, ...]


@dataclass
class Outcome:
    """Holds S3 confirmed (id → on?), holds that failed alone, an error that stopped the rest."""

    confirmed: dict[int, bool] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)
    error: RemoteError | None = None


class ApplyHoldHandler:
    """Runner handler for `apply_hold`."""

    topic = APPLY_HOLD

    def prepare(self, session: Session, settings: Settings, intent: Intent) -> Plan | None:
        """The batch's holds whose target S3 has not confirmed; None when all are settled."""
        locked = holds.locked_holds(session, intent.payload["ids"], history=False)
        due = [h for h in locked if holds.needs_call(h)]
        if not due:
            return None
        # Columns, not Blob rows (each would load its hold again).
        query = select(Blob.id, Blob.key, Blob.version_id)
        query = query.where(Blob.id.in_(h.blob_id for h in due))
        blobs = {row.id: row for row in session.execute(query)}
        return Plan(
            tuple(
                Item(h.id, blobs[h.blob_id].key, blobs[h.blob_id].version_id, h.target == "on")
                for h in due
            )
        )

    def execute(self, remotes: Remotes, plan: Plan) -> Outcome:
        """One PUT per hold, in one S3 slot, with no transaction open."""
        outcome = Outcome()
        storage = remotes.storage
        if storage is None:
            outcome.error = PermanentError("S3_BUCKET is not set in this worker")
            return outcome
        with slot(remotes):
            for item in plan.items:
                try:
                    storage.put_hold(item.key, item.version_id, on=item.on)
                except MissingObjectError as missing:
                    if item.on:
                        outcome.failed[item.hold_id] = str(missing)
                    else:
                        outcome.confirmed[item.hold_id] = False  # gone: nothing is held
                    continue
                except RemoteError as error:
                    outcome.error = error
                    break
                outcome.confirmed[item.hold_id] = item.on
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
        """Apply S3's answers to the holds, re-queue any whose target moved, advance the jobs."""
        rows = holds.locked_holds(session, intent.payload["ids"], history=False)
        done = outcome if isinstance(outcome, Outcome) else Outcome(error=outcome.error)
        confirmed = [h for h in rows if h.id in done.confirmed]
        _record_confirmed(session, confirmed, done.confirmed, intent.id)
        for hold in rows:
            if hold.id not in done.confirmed:
                _record_one(hold, done, intent.id, decision)
        session.flush()
        # A target changed while the call was in flight (published and deleted at once).
        holds.queue_apply(session, settings, [h.id for h in rows if holds.needs_call(h)])
        hold_progress.on_holds_changed(session, settings, [h.blob_id for h in rows])
        return None

    def context(self, plan: Plan) -> dict[str, Any]:
        """Every log line of the delivery names its first hold and the batch size."""
        return {"hold_id": plan.items[0].hold_id, "holds": len(plan.items)}


def _record_confirmed(
    session: Session, rows: list[LegalHold], answers: dict[int, bool], intent_id: int
) -> None:
    """S3's confirmations, as the machine allows them: a guarded UPDATE per (from, to) pair,
    one INSERT of every transition. (The ORM's flush of fifty rows and fifty transitions
    cost as much CPU as the fifty S3 calls themselves.)
    """
    groups: dict[tuple[str, str, str], list[LegalHold]] = defaultdict(list)
    for hold in rows:
        event = "confirm_on" if answers[hold.id] else "confirm_off"
        target = target_of(hold.state, event)
        if target is None:
            _refused(hold, f"Can't {event} when in {hold.state}.")
            continue
        groups[(hold.state, target, event)].append(hold)
    now = utcnow()
    for (source, target, event), members in groups.items():
        ids = [h.id for h in members]
        statement = (
            update(LegalHold)
            .where(LegalHold.id.in_(ids), LegalHold.state == source)
            .values(
                state=target, last_error=None, updated_at=now, row_version=LegalHold.row_version + 1
            )
            .returning(LegalHold.id, LegalHold.row_version)
            .execution_options(synchronize_session=False)
        )
        matched = {row.id: row.row_version for row in session.execute(statement)}
        if len(matched) != len(ids):  # the rows are locked: someone broke the lock order
            raise RuntimeError(f"holds {sorted(set(ids) - set(matched))} left {source!r}")
        detail = f"S3 confirmed the hold {'ON' if event == 'confirm_on' else 'OFF'}"
        for hold in members:
            # The loaded rows follow, without becoming dirty (nothing to flush twice).
            for name, value in (("state", target), ("last_error", None), ("updated_at", now)):
                set_committed_value(hold, name, value)
            set_committed_value(hold, "row_version", matched[hold.id])
        session.execute(
            insert(HoldTransition),
            [
                {
                    "hold_id": hold.id,
                    "at": now,
                    "event": event,
                    "from_state": source,
                    "to_state": target,
                    "intent_id": intent_id,
                    "detail": detail,
                }
                for hold in members
            ],
        )


def _refused(hold: LegalHold, error: str) -> None:
    # e.g. a hold failed by another delivery meanwhile: it waits for a person.
    log.warning(
        "hold transition refused",
        extra={"action": "hold_refused", "hold_id": hold.id, "error": error},
    )


def _record_one(
    hold: LegalHold, outcome: Outcome, intent_id: int, decision: RetryDecision | None
) -> None:
    try:
        if hold.id in outcome.confirmed:
            on = outcome.confirmed[hold.id]
            event = "confirm_on" if on else "confirm_off"
            apply(
                hold,
                event,
                intent_id=intent_id,
                detail=f"S3 confirmed the hold {'ON' if on else 'OFF'}",
            )
            hold.last_error = None
        elif hold.id in outcome.failed:
            hold.last_error = outcome.failed[hold.id][:4000]
            apply(hold, "fail", intent_id=intent_id, detail=hold.last_error)
        elif outcome.error is not None and decision is not None and holds.needs_call(hold):
            text = f"{decision.reason}: {outcome.error}"[:4000]
            hold.last_error = text
            if decision.gives_up and hold.state != HoldState.FAILED.value:
                apply(hold, "fail", intent_id=intent_id, detail=text)
    except TransitionNotAllowed as refused:
        _refused(hold, str(refused))
    if hold.target == HoldTarget.OFF.value and hold.state == HoldState.RELEASED.value:
        hold.last_error = None


HANDLER = ApplyHoldHandler()
