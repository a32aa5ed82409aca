"""Bring one DOI to its target: decide, make at most one DataCite call, record the answer.

The three phases run in this order and only the middle one talks to DataCite, with
no database transaction open:

1. `prepare` reads the intent (fenced by its lease) and the DOI, and decides.
2. `execute` makes the call and classifies the outcome.
3. `record` re-takes the lease, applies the transition and completes the intent in
   one transaction, then queues a follow-up if the DOI is still not where it should be.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from app import outbox
from app.clients.errors import (
    PermanentError,
    RemoteDoi,
    RemoteError,
    ThrottledError,
    TransientError,
)
from app.db import utcnow
from app.enums import DoiKind, DoiState, DoiTarget
from app.models import Doi, Intent
from app.retry import backoff_seconds, exhausted
from app.runtime import Runtime
from app.services import jobs, payloads
from app.services.metadata import metadata_hash
from app.states.doi import TransitionNotAllowed, apply

if TYPE_CHECKING:
    from app.clients.datacite import DataCiteClient

log = logging.getLogger("doiflow.doi_sync")


class Action(StrEnum):
    NONE = "none"
    SAVE_DRAFT = "save_draft"
    PUBLISH = "publish"
    HIDE = "hide"
    DELETE = "delete"


# The state-machine event for each state DataCite confirms (a GET confirms too).
CONFIRMS = {
    DoiState.DRAFT.value: "confirm_draft",
    DoiState.FINDABLE.value: "confirm_findable",
    DoiState.REGISTERED.value: "confirm_hidden",
    DoiState.DELETED.value: "confirm_deleted",
}


def decide(
    state: str, target: str, desired: str | None, confirmed: str | None, *, publishing: bool
) -> Action:
    """The one DataCite call that moves a DOI toward its target, or NONE when settled."""
    action = _toward(state, target, desired, confirmed)
    # DOI_PUBLISH=false: nothing is promoted or hidden (remediation does it later), and
    # the call is never made, since the state machine would refuse its confirmation.
    if not publishing and action in (Action.PUBLISH, Action.HIDE):
        return Action.NONE
    return action


def _toward(state: str, target: str, desired: str | None, confirmed: str | None) -> Action:
    if state in (DoiState.FAILED, DoiState.DELETED):
        return Action.NONE
    stale = desired != confirmed
    if target == DoiTarget.DELETED:
        # DataCite only deletes drafts; a DOI that became findable meanwhile is hidden.
        if state in (DoiState.PENDING, DoiState.DRAFT):
            return Action.DELETE
        return Action.HIDE if state == DoiState.FINDABLE else Action.NONE
    if target == DoiTarget.DRAFT:
        needs = state == DoiState.PENDING or (state == DoiState.DRAFT and stale)
        return Action.SAVE_DRAFT if needs else Action.NONE
    if target == DoiTarget.FINDABLE:
        return Action.PUBLISH if state != DoiState.FINDABLE or stale else Action.NONE
    if target == DoiTarget.REGISTERED:
        # From pending (re-driven after a failure) the worker looks before it hides.
        return Action.HIDE if state in (DoiState.FINDABLE, DoiState.PENDING) else Action.NONE
    raise ValueError(f"unknown target {target!r}")


@dataclass(frozen=True)
class Plan:
    """What `prepare` decided, carried across the remote call."""

    intent_id: int
    lease_token: str
    doi_id: int
    doi: str
    state: str
    action: Action
    attributes: dict[str, Any]
    attributes_hash: str
    hide_url: str | None
    reread_first: bool


def _decide_for(session: Session, runtime: Runtime, doi: Doi, digest: str) -> Action:
    """decide() for a row; a concept waits as a draft until one of its versions is findable."""
    target = doi.target
    if (
        doi.kind == DoiKind.CONCEPT.value
        and target == DoiTarget.FINDABLE.value
        and not payloads.has_findable_version(session, doi.dataset_id)
    ):
        # It will cite its versions (HasVersion), so it is published after the first.
        target = DoiTarget.DRAFT.value
    publishing = runtime.settings.doi_publish
    return decide(doi.state, target, digest, doi.confirmed_hash, publishing=publishing)


def run(runtime: Runtime, intent_id: int, lease_token: str) -> None:
    """The whole sync for one delivered intent; safe to run twice."""
    plan = prepare(runtime, intent_id, lease_token)
    if plan is None:
        return
    outcome = execute(runtime, plan)
    record(runtime, plan, outcome)


def prepare(runtime: Runtime, intent_id: int, lease_token: str) -> Plan | None:
    """Decide from the database; None when this delivery no longer holds the lease."""
    with runtime.sessions.begin() as session:
        intent = outbox.lock_leased(session, intent_id, lease_token)
        if intent is None:
            log.info(
                "stale delivery ignored", extra={"action": "sync_stale", "intent_id": intent_id}
            )
            return None
        # The lease started when the relay claimed; the call starts now.
        outbox.renew_lease(intent, runtime.settings.lease_seconds)
        doi = session.get(Doi, int(intent.payload["doi_id"]), with_for_update=True)
        if doi is None:
            outbox.fail(intent, "DOI row no longer exists")
            return None
        if exhausted(intent.attempts, intent.created_at, utcnow(), runtime.settings.retry):
            # Counts deliveries that crashed or outlived their lease too, and throttling
            # that never lifted (its age), so nothing is retried forever.
            age = (utcnow() - intent.created_at).total_seconds()
            last = doi.last_error or "none recorded (the deliveries died)"
            detail = (
                f"retries exhausted after {intent.attempts} attempts in {age:.0f} s; "
                f"last error: {last}"
            )
            _fail(session, runtime, intent, doi, detail, doi.last_status)
            return None
        attributes = payloads.desired_attributes(session, runtime.settings, doi)
        digest = metadata_hash(attributes)
        return Plan(
            intent_id=intent.id,
            lease_token=lease_token,
            doi_id=doi.id,
            doi=doi.doi,
            state=doi.state,
            action=_decide_for(session, runtime, doi, digest),
            attributes=attributes,
            attributes_hash=digest,
            hide_url=payloads.hide_url(runtime.settings, doi),
            # Look first after a timeout (the call may have been applied) and before
            # hiding a re-driven DOI (DataCite may hold it in any state, or not at all).
            reread_first=bool(intent.payload.get("reread")) or doi.state == DoiState.PENDING.value,
        )


def execute(runtime: Runtime, plan: Plan) -> RemoteDoi | RemoteError | None:
    """Make the one DataCite call the plan names; errors are returned, not raised."""
    client = runtime.datacite
    if plan.action is Action.NONE or client is None:
        return None
    wait = runtime.datacite_bucket.take()
    if wait > 0:
        # Over our own budget: snooze like a 429 without bothering DataCite.
        return ThrottledError("local DataCite rate limit reached", retry_after=wait)
    try:
        if plan.action is Action.SAVE_DRAFT:
            return client.save_draft(plan.doi, plan.attributes)
        if plan.action is Action.PUBLISH:
            return client.publish(plan.doi, plan.attributes)
        if plan.reread_first:
            look_wait = runtime.datacite_bucket.take()  # the look is a request too
            if look_wait > 0:
                return ThrottledError("local DataCite rate limit reached", retry_after=look_wait)
            return _look_then_retire(client, plan)
        if plan.action is Action.HIDE:
            return _hide(client, plan)
        return _gone(plan.doi, client.delete(plan.doi))
    except RemoteError as error:
        return error


def _hide(client: DataCiteClient, plan: Plan) -> RemoteDoi:
    remote = client.hide(plan.doi, url=plan.hide_url)
    if remote is None:
        # DataCite never loses a findable DOI, so this needs a person, not a guess.
        raise PermanentError(f"DataCite has no DOI {plan.doi} to hide (404)", status=404)
    return remote


def _look_then_retire(client: DataCiteClient, plan: Plan) -> RemoteDoi:
    """Hide or delete only what DataCite really holds; PUTs are idempotent and need no look."""
    remote = client.get(plan.doi)
    if remote is None:
        return _gone(plan.doi, 404)
    if remote.state == DoiState.REGISTERED.value:
        return remote  # already hidden: the lost answer was a success
    if remote.state == DoiState.DRAFT.value:
        # Never public at DataCite, so nothing to hide: a draft is deleted instead.
        return _gone(plan.doi, client.delete(plan.doi))
    if plan.state != DoiState.FINDABLE.value:
        # Findable there but not here (an earlier answer was lost): adopt what DataCite
        # says; the follow-up intent then hides it from a state that allows it.
        return remote
    # Findable: DataCite refuses to delete it, so it is hidden whichever was asked.
    return _hide(client, plan)


def _gone(doi: str, status: int) -> RemoteDoi:
    return RemoteDoi(doi, DoiState.DELETED.value, http_status=status)


def record(runtime: Runtime, plan: Plan, outcome: RemoteDoi | RemoteError | None) -> None:
    """Apply the outcome and settle the intent, fenced by the lease, in one transaction."""
    settings = runtime.settings
    with runtime.sessions.begin() as session:
        intent = outbox.lock_leased(session, plan.intent_id, plan.lease_token)
        if intent is None:
            # Superseded while we were calling DataCite; the newer delivery decides.
            log.info(
                "superseded result dropped", extra={"action": "sync_superseded", "doi": plan.doi}
            )
            return
        doi = session.get(Doi, plan.doi_id, with_for_update=True)
        assert doi is not None  # noqa: S101 - rows are never deleted while an intent exists
        if isinstance(outcome, RemoteError):
            _record_error(session, runtime, intent, doi, outcome)
            return
        if outcome is not None:
            try:
                _record_success(doi, plan, outcome, publishing=settings.doi_publish)
            except TransitionNotAllowed as refused:
                # e.g. DOI_PUBLISH differs between web and worker: stop, loudly, no loop.
                _fail(
                    session, runtime, intent, doi, f"refused by the state machine: {refused}", None
                )
                return
        outbox.complete(intent)
        settled = request(session, runtime, doi) is None
        jobs.on_doi_changed(session, doi, settled=settled)
        _sync_concept_after(session, runtime, doi)


def _record_success(doi: Doi, plan: Plan, outcome: RemoteDoi, *, publishing: bool) -> None:
    event = CONFIRMS[outcome.state]
    apply(
        doi,
        event,
        publishing_allowed=publishing,
        intent_id=plan.intent_id,
        http_status=outcome.http_status,
    )
    if plan.action in (Action.SAVE_DRAFT, Action.PUBLISH):
        doi.confirmed_hash = plan.attributes_hash
    doi.attempts = 0
    doi.next_attempt_at = None
    doi.last_status = outcome.http_status
    doi.last_error = None
    log.info("doi confirmed", extra={"action": "sync_success", "doi": doi.doi, "state": doi.state})


def _record_error(
    session: Session, runtime: Runtime, intent: Intent, doi: Doi, error: RemoteError
) -> None:
    policy = runtime.settings.retry
    doi.last_status = error.status
    doi.last_error = describe(error)
    too_old = exhausted(0, intent.created_at, utcnow(), policy)
    if isinstance(error, ThrottledError) and not too_old:
        # A 429 is DataCite pacing us, not a failure: it never uses an attempt. Throttles
        # are counted apart, so backoff still grows when no Retry-After is given.
        throttles = int(intent.payload.get("throttles", 0)) + 1
        # Never sooner than asked, and never a tight loop on "Retry-After: 0".
        delay = max(
            error.retry_after or 0.0, policy.base_seconds, backoff_seconds(throttles, policy)
        )
        outbox.retry_later(intent, delay_seconds=delay, error=str(error), use_attempt=False)
        intent.payload = {**intent.payload, "throttles": throttles}
        doi.next_attempt_at = intent.available_at
        log.warning(
            "doi throttled", extra={"action": "sync_throttled", "doi": doi.doi, "delay": delay}
        )
        return
    if isinstance(error, TransientError) and not exhausted(
        intent.attempts + 1, intent.created_at, utcnow(), policy
    ):
        delay = backoff_seconds(intent.attempts + 1, policy)
        outbox.retry_later(intent, delay_seconds=delay, error=str(error), use_attempt=True)
        reread = bool(intent.payload.get("reread")) or error.timed_out
        intent.payload = {**intent.payload, "reread": reread}
        doi.attempts = intent.attempts
        doi.next_attempt_at = intent.available_at
        log.warning(
            "doi retry scheduled", extra={"action": "sync_retry", "doi": doi.doi, "delay": delay}
        )
        return
    reason = "permanent error" if isinstance(error, PermanentError) else "retries exhausted"
    _fail(session, runtime, intent, doi, f"{reason}: {describe(error)}", error.status)


def describe(error: RemoteError) -> str:
    """The error for people: DataCite's titles, or the start of a body that had none."""
    if error.problems or not error.body:
        return str(error)
    return f"{error}: {error.body[:500]}"


def _fail(
    session: Session, runtime: Runtime, intent: Intent, doi: Doi, detail: str, status: int | None
) -> None:
    intent.attempts += 1  # the failing call was an attempt too
    doi.attempts = intent.attempts
    doi.last_error = detail
    doi.next_attempt_at = None
    if doi.state not in (DoiState.FAILED.value, DoiState.DELETED.value):
        apply(
            doi,
            "fail",
            publishing_allowed=runtime.settings.doi_publish,
            intent_id=intent.id,
            http_status=status,
            detail=detail,
        )
    outbox.fail(intent, detail)
    jobs.on_doi_changed(session, doi, settled=False)
    log.error("doi failed", extra={"action": "sync_failed", "doi": doi.doi, "status": status})


def _sync_concept_after(session: Session, runtime: Runtime, doi: Doi) -> None:
    """The concept cites its versions and follows the latest, so it syncs after each one."""
    if doi.kind == DoiKind.VERSION.value and doi.state != DoiState.PENDING.value:
        concept = payloads.concept_doi_of(session, doi.dataset_id, for_update=True)
        if concept is not None and request(session, runtime, concept) is None:
            # Nothing to send: the concept already says what it should.
            jobs.on_doi_changed(session, concept, settled=True)


def request(session: Session, runtime: Runtime, doi: Doi) -> Intent | None:
    """Queue a sync for `doi` if it needs a DataCite call (coalesced); None when settled."""
    settings = runtime.settings
    if not settings.datacite_configured:
        return None
    digest = payloads.desired_hash(session, settings, doi)
    if _decide_for(session, runtime, doi, digest) is Action.NONE:
        return None
    return outbox.add(session, outbox.SYNC_DOI, key=f"doi:{doi.id}", payload={"doi_id": doi.id})
