"""The `sync_doi` topic: the DataCite choreography that brings one DOI to its target.

The runner (`app.runner`) owns the protocol: leases, attempts, the retry decision.
This module decides from the database (`prepare`), makes the call, after a look when
an earlier answer was lost (`execute`), and hands the answer to `doi_outcome`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app import metrics
from app.clients.datacite import DataCiteClient
from app.clients.errors import PermanentError, RemoteDoi, RemoteError, ThrottledError
from app.clients.remotes import Remotes
from app.config import Settings
from app.db import utcnow
from app.enums import DoiState
from app.models import Doi, Intent
from app.retry import RetryDecision
from app.runner import RESERVATION, Failure
from app.services import doi_outcome, payloads, stash
from app.services.doi_policy import (
    DESTRUCTIVE,
    MISSING,
    WRITES,
    Action,
    Situation,
    decide,
    situation,
)
from app.services.metadata import metadata_hash, remote_holds
from app.topics import SYNC_DOI


@dataclass(frozen=True)
class Plan:
    """What `prepare` decided, carried across the remote call."""

    doi_id: int
    doi: str
    state: str
    situation: Situation
    action: Action
    attributes: dict[str, Any]
    attributes_hash: str
    url: str
    look_first: bool
    stashed: bool = False  # this intent's stash is committed: a DELETE or hide may go
    wait_seconds: float = 0.0
    reservation: float | None = None  # epoch seconds of a rate-limit token already ours


@dataclass(frozen=True)
class Outcome:
    """What happened at DataCite: an optional look, then the call (or none)."""

    action: Action
    looked: bool = False
    seen: RemoteDoi | None = None  # the look's answer; None with looked=True: missing
    seen_holds: bool = False  # the look found exactly the metadata we want
    # With action STASH: the destructive call the stash is taken for (made next delivery).
    stash_for: Action | None = None
    result: RemoteDoi | None = None
    error: RemoteError | None = None


class DoiSyncHandler:
    """Runner handler for `sync_doi`."""

    topic = SYNC_DOI

    def prepare(self, session: Session, settings: Settings, intent: Intent) -> Plan | None:
        """Decide from the database; None when the DOI is gone or needs a person."""
        doi = doi_outcome.locked_doi(session, int(intent.payload["doi_id"]))
        if doi is None or doi.state in (DoiState.FAILED.value, DoiState.DELETED.value):
            return None
        attributes = payloads.desired_attributes(session, settings, doi)
        digest = metadata_hash(attributes)
        now = situation(session, settings, doi, digest)
        action = decide(now)
        look_first = doi.needs_look
        # Only a delivery that may make a DELETE or hide asks whether its stash exists.
        stashed = (look_first or action in DESTRUCTIVE) and stash.taken_for(session, intent.id)
        wait = _grace_left(settings, doi)
        if wait > 0:
            action = Action.WAIT
        elif action in DESTRUCTIVE and not stashed and not look_first:
            # A step of its own: this delivery reads and commits the stash, the next one
            # (this same intent) makes the destructive call. A read: nothing in doubt.
            action = Action.STASH
        elif look_first or action in WRITES:
            # Committed before the call: if this delivery dies with the call in flight,
            # the next one knows it must look before it decides.
            doi.in_doubt_since = utcnow()
        return Plan(
            doi_id=doi.id,
            doi=doi.doi,
            state=doi.state,
            situation=now,
            action=action,
            attributes=attributes,
            attributes_hash=digest,
            url=payloads.desired_url(settings, doi),
            look_first=look_first,
            stashed=stashed,
            wait_seconds=wait,
            reservation=intent.payload.get(RESERVATION),
        )

    def execute(self, remotes: Remotes, plan: Plan) -> Outcome:
        """At most one write (after at most one look), with no transaction open."""
        client = remotes.datacite
        if client is None:
            return Outcome(Action.NONE)
        if plan.action is Action.WAIT:
            # A look now could miss a write that is still landing, and decide wrong.
            error = ThrottledError(
                "waiting before looking: a write whose answer was lost may still be applied "
                f"(DATACITE_WRITE_GRACE_SECONDS); looking in {plan.wait_seconds:.1f} s",
                retry_after=plan.wait_seconds,
                exact=True,
            )
            return Outcome(Action.WAIT, error=error)
        looked, seen, now = False, None, plan.situation
        tokens = _Tokens(remotes, plan.reservation)
        if plan.action is Action.STASH:
            tokens.take()
            destructive = decide(plan.situation)
            return Outcome(Action.STASH, seen=client.get(plan.doi), stash_for=destructive)
        if plan.look_first:
            tokens.take()
            seen = client.get(plan.doi)
            looked = True
            now = _as_seen(plan, seen)
        action = decide(now)
        found = Outcome(action, looked, seen, seen_holds=looked and not now.stale)
        if action in (Action.NONE, Action.GONE):
            return found
        if action in DESTRUCTIVE and not plan.stashed:
            # The look read the record: it is the stash, committed before the call is made.
            return dataclasses.replace(found, action=Action.STASH, stash_for=action)
        try:
            tokens.take()
            result = _call(client, action, plan)
        except RemoteError as error:
            return dataclasses.replace(found, error=error)
        return dataclasses.replace(found, result=result)

    def record(
        self,
        session: Session,
        settings: Settings,
        intent: Intent,
        plan: Plan | None,
        outcome: Outcome | Failure,
        decision: RetryDecision | None,
    ) -> RetryDecision | None:
        """Apply DataCite's answer to the DOI (see doi_outcome)."""
        return doi_outcome.record(session, settings, intent, plan, outcome, decision)

    def context(self, plan: Plan) -> dict[str, Any]:
        """Every log line of the delivery names the DOI."""
        return {"doi": plan.doi, "action": plan.action.value}


HANDLER = DoiSyncHandler()


def _as_seen(plan: Plan, seen: RemoteDoi | None) -> Situation:
    """The plan's situation with DataCite's real state and metadata, as the look found it."""
    if seen is None:
        return dataclasses.replace(plan.situation, state=MISSING, stale=True, url_stale=True)
    return dataclasses.replace(
        plan.situation,
        state=seen.state,
        # The lost write may have been applied: nothing to re-send when DataCite already
        # holds exactly what we want (a strict comparison; any doubt re-sends, idempotently).
        stale=not remote_holds(seen.attributes, plan.attributes),
        url_stale=seen.url != plan.url,
    )


def _grace_left(settings: Settings, doi: Doi) -> float:
    """Seconds until a write sent while in doubt can no longer land at DataCite."""
    if doi.in_doubt_since is None:
        return 0.0
    waited = (utcnow() - doi.in_doubt_since).total_seconds()
    return max(0.0, settings.datacite_write_grace_seconds - waited)


class _Tokens:
    """This delivery's takes from the shared bucket; the first may use a reservation."""

    def __init__(self, remotes: Remotes, reservation: float | None) -> None:
        self.remotes = remotes
        self.reservation = reservation

    def take(self) -> None:
        """Go ahead, or raise the exact snooze (with the token reserved for the next try).

        A token reserved less than WAIT_IN_THREAD_SECONDS ahead is waited for here, so the
        request leaves at its slot. Snoozed through the outbox it would come back behind
        whatever the queue holds by then, late, and late requests bunch: several arrive
        at DataCite together, more than its bucket holds at that moment.
        """
        reserved, self.reservation = self.reservation, None
        if reserved is not None and time.time() >= reserved - WAIT_IN_THREAD_SECONDS:
            _sleep_until(reserved)  # reserved by the take that snoozed us: already paid for
            return
        grant = self.remotes.datacite_bucket.take()
        if grant.reserved and grant.wait <= WAIT_IN_THREAD_SECONDS:
            _sleep_until(time.time() + grant.wait)
            return
        if grant.wait > 0:
            metrics.observe_bucket_wait(grant.wait)
            # Over our own budget: snooze until our token, without asking DataCite.
            until = time.time() + grant.wait if grant.reserved else None
            raise ThrottledError(
                "local DataCite rate limit reached",
                retry_after=grant.wait,
                exact=True,
                reserved_until=until,
            )


# The longest a delivery waits in its thread for a token reserved for it (longer: snooze).
WAIT_IN_THREAD_SECONDS = 1.0


def _sleep_until(moment: float) -> None:
    left = moment - time.time()
    if left > 0:
        time.sleep(left)


def _call(client: DataCiteClient, action: Action, plan: Plan) -> RemoteDoi:
    if action is Action.SAVE_DRAFT:
        return client.save_draft(plan.doi, plan.attributes)
    if action is Action.PUBLISH:
        return client.publish(plan.doi, plan.attributes)
    if action is Action.REGISTER:
        return client.register(plan.doi, plan.attributes)
    if action is Action.HIDE:
        remote = client.hide(plan.doi, url=plan.url)
        if remote is None:
            # DataCite never loses a public DOI, so this needs a person, not a guess.
            raise PermanentError(f"DataCite has no DOI {plan.doi} to hide (404)", status=404)
        return remote
    status = client.delete(plan.doi)
    return RemoteDoi(plan.doi, DoiState.DELETED.value, http_status=status)
