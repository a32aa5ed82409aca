"""Recording what DataCite answered for a DOI, in the runner's fenced transaction.

A look (GET) is adopted first: doiflow then knows DataCite's real state before the
call's own answer is applied. A confirmation re-decides against the DOI's *current*
target (it may have changed while the call was in flight) and queues the follow-up.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from app.clients.errors import RemoteError, TransientError
from app.config import Settings
from app.db import utcnow
from app.enums import DoiKind, DoiState, DoiTarget
from app.models import Dataset, Doi, Intent
from app.retry import RetryDecision, Verdict
from app.runner import Failure
from app.services import jobs, payloads, stash
from app.services.doi_policy import Action, keeps_draft, reachable_target, request_sync
from app.states.doi import TransitionNotAllowed, apply

if TYPE_CHECKING:
    from app.services.doi_sync import Outcome, Plan

log = logging.getLogger("doiflow.doi_sync")

# The state-machine event for each state DataCite confirms (a look confirms too).
CONFIRMS = {
    DoiState.DRAFT.value: "confirm_draft",
    DoiState.FINDABLE.value: "confirm_findable",
    DoiState.REGISTERED.value: "confirm_hidden",
    DoiState.DELETED.value: "confirm_deleted",
}
METADATA_WRITES = (Action.SAVE_DRAFT, Action.PUBLISH, Action.REGISTER)


def locked_doi(session: Session, doi_id: int) -> Doi | None:
    """The DOI row, locked and freshly read, with its dataset and versions, in one query.

    Every decision reads the dataset and its versions; none reads a version's blobs
    (thousands of rows for a large version), so those stay unloaded.
    """
    return session.get(
        Doi,
        doi_id,
        options=[
            joinedload(Doi.dataset).joinedload(Dataset.versions),
        ],
        with_for_update={"of": Doi},
        populate_existing=True,
    )


def record(
    session: Session,
    settings: Settings,
    intent: Intent,
    plan: Plan | None,
    outcome: Outcome | Failure,
    decision: RetryDecision | None,
) -> RetryDecision | None:
    """Apply the outcome to the DOI; a decision to give up when the machine refuses it."""
    doi = locked_doi(session, plan.doi_id if plan else int(intent.payload["doi_id"]))
    if doi is None:
        return None
    try:
        if not isinstance(outcome, Failure) and outcome.looked and plan is not None:
            _adopt(doi, plan, outcome, intent.id, settings)
        if decision is None and not isinstance(outcome, Failure) and plan is not None:
            if outcome.action is Action.STASH:
                return _stash(session, settings, doi, intent, outcome)
            _confirm(session, settings, doi, intent, plan, outcome)
            return None
    except TransitionNotAllowed as refused:
        # e.g. DOI_PUBLISH differs between web and worker: stop, loudly, no loop.
        decision = RetryDecision(Verdict.FAIL, reason=f"refused by the state machine: {refused}")
        _record_error(session, settings, doi, intent, plan, outcome, decision, refused=True)
        return decision
    assert decision is not None  # noqa: S101 - a success always has a plan and an Outcome
    _record_error(session, settings, doi, intent, plan, outcome, decision)
    return None


def _adopt(doi: Doi, plan: Plan, outcome: Outcome, intent_id: int, settings: Settings) -> None:
    """Take DataCite's state as the look found it: the lost answer was a success."""
    doi.in_doubt_since = None
    seen = outcome.seen
    if seen is None:
        return  # nothing there: the decision already knows (created or recorded as gone)
    doi.confirmed_url = seen.url
    # Metadata we find there is ours only when it is exactly what we wanted.
    doi.confirmed_hash = plan.attributes_hash if outcome.seen_holds else None
    if seen.state != doi.state:
        apply(
            doi,
            CONFIRMS[seen.state],
            publishing_allowed=settings.doi_publish,
            intent_id=intent_id,
            http_status=seen.http_status,
            detail=f"a look found DataCite holding it {seen.state} (an earlier answer was lost)",
        )


def _stash(
    session: Session, settings: Settings, doi: Doi, intent: Intent, outcome: Outcome
) -> RetryDecision:
    """Commit the stash; the same intent is delivered again at once for the call itself."""
    follows = outcome.stash_for or Action.DELETE
    # One per intent: `prepare` planned this read because none existed (and the unique
    # intent_id would refuse a second), so a re-delivery re-uses it.
    stash.record(
        session, settings, doi, intent_id=intent.id, action=follows.value, seen=outcome.seen
    )
    what = "DataCite's record" if outcome.seen is not None else "a 404 (nothing remote)"
    return RetryDecision(Verdict.CONTINUE, reason=f"stashed {what}; the {follows.value} follows")


def _confirm(
    session: Session, settings: Settings, doi: Doi, intent: Intent, plan: Plan, outcome: Outcome
) -> None:
    result = outcome.result
    if outcome.action is Action.GONE or result is not None:
        state = result.state if result is not None else DoiState.DELETED.value
        status = result.http_status if result is not None else 404
        if not (state == DoiState.DELETED.value and doi.state == state):
            apply(
                doi,
                CONFIRMS[state],
                publishing_allowed=settings.doi_publish,
                intent_id=intent.id,
                http_status=status,
            )
        if outcome.action in METADATA_WRITES:
            doi.confirmed_hash = plan.attributes_hash
        doi.confirmed_url = result.url if result is not None and result.url else None
        doi.last_status = status
        log.info("doi confirmed", extra={"action": "sync_success", "state": doi.state})
    doi.in_doubt_since = None
    doi.attempts = 0
    doi.next_attempt_at = None
    doi.last_error = None
    # A version's follow-up depends on its concept (it names it once DataCite has it), and
    # the concept's record re-syncs the versions: lock the concept before deciding, so of
    # two records racing one always sees the other's outcome.
    if doi.kind == DoiKind.VERSION.value:
        payloads.concept_doi_of(session, doi.dataset_id, for_update=True)
    # DataCite never takes a public DOI back to draft or deletes it: retarget, then re-decide.
    doi.target = reachable_target(doi)
    retired_draft = doi.state == DoiState.DRAFT.value and doi.target == DoiTarget.REGISTERED.value
    if retired_draft and keeps_draft(
        doi, must_exist=payloads.versions_may_cite_concept(session, doi.dataset_id)
    ):
        doi.target = DoiTarget.DRAFT.value  # confirmed a draft nobody cites: it stays one
    session.flush()
    settled = request_sync(session, settings, doi) is None
    jobs.on_doi_changed(session, doi, settled=settled)
    _follow_with_concept(session, settings, doi)
    if plan.state == DoiState.PENDING.value and doi.state in payloads.AT_DATACITE:
        _cite_from_versions(session, settings, doi)


def _record_error(
    session: Session,
    settings: Settings,
    doi: Doi,
    intent: Intent,
    plan: Plan | None,
    outcome: Outcome | Failure,
    decision: RetryDecision,
    *,
    refused: bool = False,
) -> None:
    error = outcome.error
    looked = not isinstance(outcome, Failure) and outcome.looked
    if error is not None:
        doi.last_status = error.status
        doi.last_error = describe(error)
    reading = plan is not None and plan.action is Action.STASH  # a GET: nothing was written
    if _maybe_applied(error) and not reading:
        # The grace before the next look counts from when we stopped waiting for it.
        doi.in_doubt_since = utcnow()
    elif not refused and not (plan is not None and plan.look_first and not looked):
        doi.in_doubt_since = None  # a definite answer: the write was not applied
    # A snooze gives the attempt counted at start back (pacing is not failure).
    doi.attempts = max(0, intent.attempts - (decision.verdict is Verdict.SNOOZE))
    if not decision.gives_up:
        doi.next_attempt_at = utcnow()
        return
    detail = f"{decision.reason}: {doi.last_error}" if error is not None else decision.reason
    doi.last_error = detail
    doi.next_attempt_at = None
    if doi.state not in (DoiState.FAILED.value, DoiState.DELETED.value):
        apply(
            doi,
            "fail",
            publishing_allowed=settings.doi_publish,
            intent_id=intent.id,
            http_status=doi.last_status,
            detail=detail,
        )
    jobs.on_doi_changed(session, doi, settled=False)
    _note_waiting_concept(session, doi)
    log.error("doi failed", extra={"action": "sync_failed", "status": doi.last_status})


def _maybe_applied(error: RemoteError | None) -> bool:
    return isinstance(error, TransientError) and error.maybe_applied


def describe(error: RemoteError) -> str:
    """The error for people: DataCite's titles, or the start of a body that had none."""
    if error.problems or not error.body:
        return str(error)
    return f"{error}: {error.body[:500]}"


def _follow_with_concept(session: Session, settings: Settings, doi: Doi) -> None:
    """The concept cites its versions and follows the latest, so it syncs after each one."""
    if doi.kind == DoiKind.VERSION.value and doi.state != DoiState.PENDING.value:
        concept = payloads.concept_doi_of(session, doi.dataset_id, for_update=True)
        if concept is not None and request_sync(session, settings, concept) is None:
            # Nothing to send: the concept already says what it should.
            jobs.on_doi_changed(session, concept, settled=True)


def _cite_from_versions(session: Session, settings: Settings, concept: Doi) -> None:
    """A concept DataCite now has: findable versions published without it name it now."""
    if concept.kind != DoiKind.CONCEPT.value or not concept.dataset.versions:
        return
    query = select(Doi).where(
        Doi.dataset_id == concept.dataset_id,
        Doi.kind == DoiKind.VERSION.value,
        Doi.state == DoiState.FINDABLE.value,
    )
    # Not locked: a version records while holding its own row, then the concept's.
    for version in session.scalars(query.order_by(Doi.id)):
        request_sync(session, settings, version)  # only those whose metadata is now stale


def _note_waiting_concept(session: Session, version: Doi) -> None:
    """Say on a concept why it waits: its first version DOI failed (it publishes after one)."""
    if version.kind != DoiKind.VERSION.value:
        return
    concept = payloads.concept_doi_of(session, version.dataset_id, for_update=True)
    if (
        concept is None
        or concept.target != DoiTarget.FINDABLE.value
        or concept.state == DoiState.FINDABLE.value
        or payloads.has_findable_version(session, version.dataset_id)
    ):
        return
    concept.last_error = (
        f"waiting: it is published after its first findable version DOI, and "
        f"{version.doi} failed ({version.last_error})"
    )[:4000]
