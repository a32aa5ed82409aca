"""The lease-fenced intent runner every topic uses.

One delivery of one intent runs in three steps, and only the middle one talks to a
remote service, with no database transaction open:

1. prepare: start the delivery (renew the lease, count the attempt, fenced by the
   lease token) and let the handler decide, in one transaction;
2. execute: the handler's remote step, its calls collected for the timeline;
3. record: let the handler apply the outcome and settle the intent (done, retry,
   snooze or fail: one retry decision, `app.retry`) in a second transaction whose
   settling UPDATE is fenced by the lease token: a superseded delivery's transaction
   matches nothing there and rolls back whole, so it changes nothing.

In a worker process step 3 runs on the process's recorder thread (`app.recorder`): the
worker thread takes its next message as soon as the call has answered. The heartbeat
keeps the lease alive from the call until the record starts.

Anything that is not a remote answer (a bug, a Redis error) is caught at each step,
recorded on the intent and the handler's row, and retried like a transient error,
bounded by attempts and age: nothing escapes silently and nothing loops forever.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy.orm import Session

from app import logs, metrics, outbox, retry
from app.clients import calls
from app.clients.errors import RemoteError, UnexpectedError
from app.clients.remotes import Remotes
from app.config import RetryPolicy, Settings
from app.db import utcnow
from app.heartbeat import Heartbeats, Keeping
from app.models import Intent
from app.recorder import BackgroundRecorder
from app.retry import RetryDecision, Verdict
from app.runtime import Runtime
from app.topics import Topic

log = logging.getLogger("doiflow.runner")

# The payload key of a token the rate limiter reserved for an intent's next try.
RESERVATION = "reservation"
# The verdict's data when `prepare` finds nothing to call.
NOTHING_TO_DO = {"reason": "nothing to do"}

PlanT = TypeVar("PlanT")
OutcomeT = TypeVar("OutcomeT")


@dataclass(frozen=True)
class Failure:
    """The outcome of a remote step that raised instead of answering."""

    error: RemoteError


class Handler(Protocol, Generic[PlanT, OutcomeT]):
    """What a topic provides: decide, act remotely, record. Actors stay thin."""

    topic: Topic

    def prepare(self, session: Session, settings: Settings, intent: Intent) -> PlanT | None:
        """Decide from the database (None: nothing to do, the intent is done)."""

    def execute(self, remotes: Remotes, plan: PlanT) -> OutcomeT:
        """The remote step; may raise RemoteError. The outcome has an `error` attribute."""

    def record(
        self,
        session: Session,
        settings: Settings,
        intent: Intent,
        plan: PlanT | None,
        outcome: OutcomeT | Failure,
        decision: RetryDecision | None,
    ) -> RetryDecision | None:
        """Apply the outcome to the handler's rows (decision None means success).

        Returns a decision that overrides the runner's (e.g. give up when the handler's
        state machine refuses the answer), or None to keep it.
        """

    def context(self, plan: PlanT) -> dict[str, Any]:
        """Fields every log line of this delivery carries (e.g. the DOI)."""


@dataclass
class Delivery:
    """One delivery of one intent, carried from step to step."""

    handler: Handler[Any, Any]
    intent_id: int
    lease_token: str
    plan: Any
    # The intent as its start left it (attempt counted, lease renewed). Only this
    # delivery changes a leased intent, so recording needs no second read: the fenced
    # UPDATE that settles it is the lease check, and rolls everything back if lost.
    intent: Intent
    outcome: Any = None
    calls: list[dict[str, Any]] = field(default_factory=list)
    # The lease renewal running from the call until the record starts.
    keeping: Keeping | None = None

    @property
    def attempt(self) -> int:
        """This delivery's attempt number (counted when it started)."""
        return self.intent.attempts


class Runner:
    """Runs deliveries of any topic against one process's database and remotes."""

    def __init__(
        self, runtime: Runtime, remotes: Remotes, *, record_in_background: bool = False
    ) -> None:
        self.runtime = runtime
        self.remotes = remotes
        self.settings = runtime.settings
        self.heartbeats = Heartbeats(runtime)
        # Worker processes record on a thread of their own; tests and `doiflow dev`
        # (SQLite takes one writer at a time) record in the delivering thread.
        self.recorder = BackgroundRecorder(self.finish) if record_in_background else None

    def run(self, handler: Handler[Any, Any], intent_id: int, lease_token: str) -> None:
        """One delivery; safe to run twice (a stale or duplicate one changes nothing)."""
        with logs.bound(intent_id=intent_id, topic=handler.topic.name):
            delivery = self.start(handler, intent_id, lease_token)
            if delivery is None:
                return
            with logs.bound(attempt=delivery.attempt, **handler.context(delivery.plan)):
                try:
                    self.call(delivery)
                    if self.recorder is None:
                        self.finish(delivery)
                    else:
                        self.recorder.submit(delivery)
                except BaseException:
                    # Interrupted (e.g. Dramatiq's time limit) before a record took it over:
                    # nothing will record it, so its lease must lapse for the relay's rescue.
                    if delivery.keeping is not None:
                        delivery.keeping.stop()
                    raise

    def drain(self, timeout: float) -> bool:
        """Wait until every outcome handed to the recorder is recorded (False: timed out)."""
        return self.recorder is None or self.recorder.drain(timeout)

    def start(
        self, handler: Handler[Any, Any], intent_id: int, lease_token: str
    ) -> Delivery | None:
        """Step 1: start the delivery and decide; None when there is nothing to call."""
        try:
            with self.runtime.sessions.begin() as session:
                intent = outbox.start(
                    session, intent_id, lease_token, lease_seconds=self.settings.lease_seconds
                )
                if intent is None:
                    log.info("stale delivery ignored", extra={"action": "delivery_stale"})
                    return None
                if self._died_too_often(session, handler, intent):
                    return None
                # The delivery's own token from here on (a copy of the message is stale).
                token = intent.lease_token or ""
                plan = handler.prepare(session, self.settings, intent)
                if plan is None:
                    outbox.complete(session, intent_id, token, events=[("done", NOTHING_TO_DO)])
                    return None
                return Delivery(handler, intent_id, token, plan, intent)
        except Exception as exc:  # a bug or a database error: recorded, retried, bounded
            # Rolled back: the intent still holds the message's token.
            log.exception("delivery failed to start", extra={"action": "delivery_crashed"})
            crash = UnexpectedError(exc, phase="preparing")
            self._record_crash(handler, intent_id, lease_token, crash, [])
            return None

    def call(self, delivery: Delivery) -> Delivery:
        """Step 2: the handler's remote step, with no transaction open, its lease kept alive
        (until `finish` starts)."""
        delivery.keeping = self.heartbeats.keeping(delivery.intent_id, delivery.lease_token).start()
        with calls.collect() as made:
            try:
                delivery.outcome = delivery.handler.execute(self.remotes, delivery.plan)
            except RemoteError as error:
                delivery.outcome = Failure(error)
            except Exception as exc:
                log.exception("remote step crashed", extra={"action": "delivery_crashed"})
                delivery.outcome = Failure(UnexpectedError(exc, phase="calling"))
        delivery.calls = made
        return delivery

    def finish(self, delivery: Delivery) -> None:
        """Step 3: record the outcome and settle the intent, fenced by the lease."""
        if delivery.keeping is not None:
            # A beat now would wait for this transaction's row lock, and every lease behind it.
            delivery.keeping.stop()
        handler, intent_id = delivery.handler, delivery.intent_id
        try:
            with self.runtime.sessions.begin() as session:
                intent, outcome = delivery.intent, delivery.outcome
                error: RemoteError | None = outcome.error
                decision = None if error is None else self._decide(handler, intent, error)
                override = handler.record(
                    session, self.settings, intent, delivery.plan, outcome, decision
                )
                if override is not None and override.verdict is Verdict.CONTINUE:
                    decision = override
                elif override is not None:
                    decision, error = override, error or RemoteError(override.reason)
                self._settle(session, intent, decision, error, made=delivery.calls)
        except outbox.LeaseLostError:
            # Superseded while we called out (lease expired, rescued, re-delivered): the
            # newer delivery decides. The calls we made still belong in the timeline.
            log.warning("result dropped: lease lost", extra={"action": "delivery_superseded"})
            with self.runtime.sessions.begin() as session:
                _record_outcome(session, intent_id, delivery.calls, "dropped", reason="lease lost")
        except Exception as exc:
            log.exception("recording the outcome failed", extra={"action": "delivery_crashed"})
            crash = UnexpectedError(exc, phase="recording")
            self._record_crash(handler, intent_id, delivery.lease_token, crash, delivery.calls)

    def _policy(self, handler: Handler[Any, Any]) -> RetryPolicy:
        """The settings' retry policy, or the topic's own (`retry_policy(settings)`), if any."""
        own = getattr(handler, "retry_policy", None)
        return own(self.settings) if own is not None else self.settings.retry

    def _died_too_often(self, session: Session, handler: Handler[Any, Any], intent: Intent) -> bool:
        """Deliveries that started and never recorded (killed) still end, by count or age."""
        policy = self._policy(handler)
        earlier = intent.attempts - 1
        if not retry.exhausted(earlier, intent.created_at, utcnow(), policy):
            return False
        age = (utcnow() - intent.created_at).total_seconds()
        last = intent.last_error or "none recorded (the deliveries died)"
        error = RemoteError(f"{earlier} earlier deliveries in {age:.0f} s; last error: {last}")
        decision = RetryDecision(Verdict.FAIL, reason="retries exhausted")
        handler.record(session, self.settings, intent, None, Failure(error), decision)
        self._settle(session, intent, decision, error)
        return True

    def _decide(
        self, handler: Handler[Any, Any], intent: Intent, error: RemoteError
    ) -> RetryDecision:
        return retry.decide(
            error,
            attempts=intent.attempts,
            throttles=int(intent.payload.get("throttles", 0)),
            created_at=intent.created_at,
            now=utcnow(),
            policy=self._policy(handler),
        )

    def _settle(
        self,
        session: Session,
        intent: Intent,
        decision: RetryDecision | None,
        error: RemoteError | None,
        *,
        attempts_delta: int = 0,
        made: list[dict[str, Any]] | None = None,
    ) -> None:
        """Apply the one retry decision to the intent, fenced by its lease.

        The calls made are added after the fenced UPDATE, with the verdict, so they
        leave in one multi-row INSERT (and not at all when the lease was lost).
        """
        token = intent.lease_token or ""
        if decision is not None and decision.verdict is Verdict.CONTINUE:
            self._continue(session, intent, decision, made or [])
            return
        metrics.count_delivery(intent.topic, None if decision is None else error)
        if decision is None or error is None:
            # The calls and the verdict go with the completion, in its one statement.
            outbox.complete(session, intent.id, token, events=_outcome(made or [], "done"))
            return
        text = f"{decision.reason}: {error}"[:4000]
        if decision.verdict is Verdict.FAIL:
            outbox.fail(session, intent.id, token, text)
            log.error("intent failed", extra={"action": "intent_failed", "error": text})
        else:
            payload = _payload_after(intent.payload, decision, error)
            delta = attempts_delta - (decision.verdict is Verdict.SNOOZE)
            outbox.retry_later(
                session,
                intent.id,
                token,
                delay_seconds=decision.delay_seconds,
                error=text,
                attempts_delta=delta,
                payload=payload,
            )
            log.warning(
                "intent retry scheduled",
                extra={
                    "action": f"intent_{decision.verdict.value}",
                    "delay": round(decision.delay_seconds, 3),
                    "error": text,
                },
            )
        _record_outcome(
            session,
            intent.id,
            made or [],
            decision.verdict.value,
            delay_seconds=round(decision.delay_seconds, 3),
            reason=decision.reason,
            error=str(error)[:1000],
        )

    def _continue(
        self,
        session: Session,
        intent: Intent,
        decision: RetryDecision,
        made: list[dict[str, Any]],
    ) -> None:
        """A step done, the next one due now: the same intent, its attempt given back."""
        outbox.retry_later(
            session,
            intent.id,
            intent.lease_token or "",
            delay_seconds=0.0,
            error=None,
            attempts_delta=-1,
            # A rate-limit reservation was spent on this step's call.
            payload={k: v for k, v in intent.payload.items() if k != RESERVATION},
        )
        _record_outcome(session, intent.id, made, Verdict.CONTINUE.value, reason=decision.reason)
        outbox.notify(session)
        log.info("next step queued", extra={"action": "intent_continue", "reason": decision.reason})

    def _record_crash(
        self,
        handler: Handler[Any, Any],
        intent_id: int,
        lease_token: str,
        error: UnexpectedError,
        made: list[dict[str, Any]],
    ) -> None:
        """Settle a delivery whose own code failed: an attempt spent, the error kept."""
        try:
            with self.runtime.sessions.begin() as session:
                intent = outbox.lock_leased(session, intent_id, lease_token)
                if intent is None:
                    return
                # A crash while preparing rolled its start back: spend the attempt here.
                delta = 1 if error.phase == "preparing" else 0
                attempts = intent.attempts + delta
                decision = retry.decide(
                    error,
                    attempts=attempts,
                    throttles=0,
                    created_at=intent.created_at,
                    now=utcnow(),
                    policy=self._policy(handler),
                )
                try:
                    with session.begin_nested():
                        handler.record(
                            session, self.settings, intent, None, Failure(error), decision
                        )
                except Exception:
                    log.exception(
                        "handler could not record the crash", extra={"action": "delivery_crashed"}
                    )
                self._settle(session, intent, decision, error, attempts_delta=delta, made=made)
        except Exception:
            # The database itself is failing: the lease expires, the relay re-delivers.
            log.exception("could not record the crash", extra={"action": "delivery_crashed"})


def _record_outcome(
    session: Session, intent_id: int, made: list[dict[str, Any]], verdict: str, **data: Any
) -> None:
    """The delivery's calls, then its verdict (`done`, `retry`, …), in one INSERT."""
    outbox.record_events(session, intent_id, _outcome(made, verdict, **data))


def _outcome(
    made: list[dict[str, Any]], verdict: str, **data: Any
) -> list[tuple[str, dict[str, Any]]]:
    """The timeline's events for a delivery's calls, then its verdict."""
    return [*(("call", c) for c in made), (verdict, data)]


def _payload_after(
    payload: dict[str, Any], decision: RetryDecision, error: RemoteError
) -> dict[str, Any] | None:
    """The intent's payload for its next try: throttles counted, a rate-limit reservation kept."""
    kept = {k: v for k, v in payload.items() if k != RESERVATION}
    if decision.verdict is not Verdict.SNOOZE:
        return kept if kept != payload else None
    kept["throttles"] = int(payload.get("throttles", 0)) + 1
    reserved = getattr(error, "reserved_until", None)
    if reserved is not None:
        kept[RESERVATION] = reserved
    return kept
