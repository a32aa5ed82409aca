"""What a DOI needs next: the one DataCite call toward its target, and queueing a sync.

Pure decisions plus the one function the web path calls (`request_sync`); the code
that makes DataCite calls lives in `doi_sync`, which only workers import.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.orm import Session

from app import outbox
from app.config import Settings
from app.enums import DoiKind, DoiState, DoiTarget
from app.models import Doi, Intent
from app.services import holds, payloads
from app.services.metadata import metadata_hash
from app.topics import SYNC_DOI

# A look (GET) found nothing at DataCite: a pseudo-state for `decide` only.
MISSING = "missing"
PUBLIC = (DoiState.FINDABLE.value, DoiState.REGISTERED.value)


class Action(StrEnum):
    NONE = "none"
    SAVE_DRAFT = "save_draft"  # PUT, no event
    PUBLISH = "publish"  # PUT, event publish
    REGISTER = "register"  # PUT, event register: resolvable, never findable
    HIDE = "hide"  # PUT, event hide (also re-points a hidden DOI's URL)
    DELETE = "delete"  # DELETE (drafts only)
    GONE = "gone"  # nothing at DataCite and nothing wanted there: no call at all
    WAIT = "wait"  # in doubt, and a write sent moments ago may still land: look later
    STASH = "stash"  # GET, committed to the stash before a DELETE or hide (no write)


WRITES = frozenset({Action.SAVE_DRAFT, Action.PUBLISH, Action.REGISTER, Action.HIDE, Action.DELETE})
# DataCite cannot undo these by itself: each is made only after its stash is committed.
DESTRUCTIVE = frozenset({Action.HIDE, Action.DELETE})


@dataclass(frozen=True)
class Situation:
    """Everything `decide` weighs for one DOI, read from the database."""

    state: str
    target: str
    stale: bool  # the desired metadata differs from what DataCite confirmed
    url_stale: bool  # the desired URL differs from what DataCite confirmed
    must_exist: bool  # something at DataCite may cite it, so it must keep resolving
    publishing: bool  # DOI_PUBLISH
    # A version DOI whose blobs are not all held yet: data is immutable before it is citable.
    waiting_for_holds: bool = False

    def with_state(self, state: str, *, confirmed: bool) -> Situation:
        """The same DOI as a look (GET) found it; unconfirmed metadata is stale."""
        stale = self.stale or not confirmed
        return Situation(
            state,
            self.target,
            stale,
            self.url_stale or not confirmed,
            self.must_exist,
            self.publishing,
            self.waiting_for_holds,
        )


def decide(situation: Situation) -> Action:
    """The one DataCite call that moves a DOI toward its target, or NONE when settled."""
    action = _toward(situation)
    # DOI_PUBLISH=false: nothing is promoted or hidden (remediation does it later), and
    # the call is never made, since the state machine would refuse its confirmation.
    if not situation.publishing and action in (Action.PUBLISH, Action.HIDE, Action.REGISTER):
        return Action.NONE
    # Never findable before every hold is on; synced when the last one turns on.
    if situation.waiting_for_holds and action in (Action.PUBLISH, Action.REGISTER):
        return Action.NONE
    return action


def _toward(s: Situation) -> Action:
    if s.state in (DoiState.FAILED, DoiState.DELETED):
        return Action.NONE
    if s.target == DoiTarget.FINDABLE:
        return Action.PUBLISH if s.state != DoiState.FINDABLE or s.stale else Action.NONE
    if s.target == DoiTarget.DRAFT:
        if s.state in (DoiState.PENDING, MISSING):
            return Action.SAVE_DRAFT
        # Findable or registered can never return to draft: the recorder retargets those.
        return Action.SAVE_DRAFT if s.state == DoiState.DRAFT and s.stale else Action.NONE
    if s.state == DoiState.FINDABLE:
        return Action.HIDE  # retired: DataCite refuses to delete a public DOI
    if s.state == DoiState.REGISTERED:
        return Action.HIDE if s.url_stale else Action.NONE
    if s.target == DoiTarget.REGISTERED and s.must_exist:
        return Action.REGISTER  # cited by a version: it must go on resolving
    if s.target in (DoiTarget.REGISTERED, DoiTarget.DELETED):
        return Action.GONE if s.state == MISSING else Action.DELETE
    raise ValueError(f"unknown target {s.target!r}")


def situation(session: Session, settings: Settings, doi: Doi, digest: str) -> Situation:
    """The Situation of a DOI row; a DOI not yet sent and not in doubt is MISSING at DataCite."""
    target = doi.target
    if (
        doi.kind == DoiKind.CONCEPT.value
        and target == DoiTarget.FINDABLE.value
        and not payloads.has_findable_version(session, doi.dataset_id)
    ):
        # It will cite its versions (HasVersion), so it is published after the first.
        target = DoiTarget.DRAFT.value
    state = doi.state
    if state == DoiState.PENDING.value and not doi.needs_look:
        state = MISSING  # never sent: DataCite has nothing
    # Only a concept being retired (target registered) asks whether a version cites it.
    must_exist = (
        doi.kind == DoiKind.CONCEPT.value
        and doi.target == DoiTarget.REGISTERED.value
        and payloads.versions_may_cite_concept(session, doi.dataset_id)
    )
    if keeps_draft(doi, must_exist=must_exist):
        target = DoiTarget.DRAFT.value
    return Situation(
        state=state,
        target=target,
        stale=digest != doi.confirmed_hash,
        url_stale=payloads.desired_url(settings, doi) != doi.confirmed_url,
        must_exist=must_exist,
        publishing=settings.doi_publish,
        waiting_for_holds=settings.s3_configured
        and doi.version_id is not None
        and doi.target == DoiTarget.FINDABLE.value
        and holds.waiting_for_holds(session, doi.version_id),
    )


def needs_call(session: Session, settings: Settings, doi: Doi) -> bool:
    """True when the DOI needs a DataCite call (or, being in doubt, a look)."""
    if doi.state in (DoiState.FAILED.value, DoiState.DELETED.value):
        return False
    if doi.needs_look:
        return True
    digest = metadata_hash(payloads.desired_attributes(session, settings, doi))
    return decide(situation(session, settings, doi, digest)) is not Action.NONE


def request_sync(session: Session, settings: Settings, doi: Doi) -> Intent | None:
    """Queue a sync for `doi` if it needs a DataCite call (coalesced); None when settled."""
    if not settings.datacite_configured or not needs_call(session, settings, doi):
        return None
    return outbox.add(session, SYNC_DOI, key=sync_key(doi), payload={"doi_id": doi.id})


def queue_first_sync(session: Session, settings: Settings, doi: Doi) -> None:
    """Queue the first sync of a DOI created in this transaction: it always needs one.

    Nothing is at DataCite yet and nothing can be queued for its new id, so neither the
    decision nor the coalescing lookup has anything to find; and nothing here needs the
    intent as an object, so it is one INSERT, not an ORM flush (a create's largest cost).
    """
    if settings.datacite_configured:
        outbox.add_fresh_many(session, SYNC_DOI, [(sync_key(doi), {"doi_id": doi.id})])


def sync_key(doi: Doi) -> str:
    """The outbox key of a DOI's syncs: at most one in flight per DOI."""
    return f"doi:{doi.id}"


def retire_target(session: Session, doi: Doi) -> str:
    """The target of a DOI whose dataset or version is deleted (rules 3, 7 and 8).

    Hidden (registered) when DataCite has made it public, or may have (a publish sent
    and its answer lost or still in flight), or when a version may cite it; deleted
    otherwise. DataCite refuses to delete a public DOI, and a deleted one stops resolving.
    """
    may_be_public = (
        doi.state in PUBLIC
        or (doi.in_doubt and doi.target in (DoiTarget.FINDABLE.value, DoiTarget.REGISTERED.value))
        or any(t.to_state in PUBLIC for t in doi.history)
    )
    cited = doi.kind == DoiKind.CONCEPT.value and payloads.versions_may_cite_concept(
        session, doi.dataset_id
    )
    return (DoiTarget.REGISTERED if may_be_public or cited else DoiTarget.DELETED).value


def keeps_draft(doi: Doi, *, must_exist: bool) -> bool:
    """A live dataset's concept retired as "maybe public" that turns out a draft nobody cites.

    Its last version went while a write was in doubt, so it was headed for hidden; if
    DataCite holds it as a draft (a look will say) and no version may cite it, it stays
    the dataset's draft: a live dataset's concept is never deleted. A public one is
    retargeted back to registered by the recorder (`reachable_target`).
    """
    return (
        doi.kind == DoiKind.CONCEPT.value
        and doi.target == DoiTarget.REGISTERED.value
        and doi.state not in PUBLIC
        and not must_exist
        and doi.dataset.deleted_at is None
    )


def reachable_target(doi: Doi) -> str:
    """The target once DataCite's state is known: public DOIs never return to draft or go,
    and a DOI found gone (DataCite never had it, or deleted the draft) stays gone."""
    if doi.state in PUBLIC and doi.target in (DoiTarget.DRAFT.value, DoiTarget.DELETED.value):
        return DoiTarget.REGISTERED.value
    if doi.state == DoiState.DELETED.value:
        return DoiTarget.DELETED.value
    return doi.target
