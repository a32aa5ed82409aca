"""What a person does to intents, DOIs and tokens: each action audited and on the timeline.

Every function takes the caller's Session and never commits. An action writes one
`audit_log` row (who, what, why) and, for each intent it touched, an `operator` event,
so the intent's timeline shows who acted. A state it does not apply to is refused with
ConflictError and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import outbox
from app.config import Settings
from app.enums import DoiState, IntentStatus
from app.models import ApiToken, Doi, Intent
from app.services import audit, dois, intents, tokens
from app.services.doi_policy import sync_key
from app.services.errors import ConflictError, NotFoundError
from app.topics import SYNC_DOI

FAILED = IntentStatus.FAILED.value


@dataclass
class BulkResult:
    """What a bulk action did: the intents it changed and how many it left alone."""

    changed: list[int] = field(default_factory=list)
    skipped: int = 0


def retry_intent(
    settings: Settings, session: Session, intent_id: int, *, actor: str, reason: str
) -> str:
    """Retry one failed intent; returns what happened, for the person."""
    message = _retry(settings, session, _locked(session, intent_id), actor=actor, reason=reason)
    audit.record(session, actor, "intent.retry", f"intent:{intent_id}", reason, result=message)
    return message


def discard_intent(session: Session, intent_id: int, *, actor: str, reason: str) -> str:
    """Discard one pending or failed intent; returns what happened."""
    _discard(session, _locked(session, intent_id), actor=actor, reason=reason)
    audit.record(session, actor, "intent.discard", f"intent:{intent_id}", reason)
    return f"intent {intent_id} discarded"


def bulk(
    settings: Settings,
    session: Session,
    action: str,
    intent_ids: Iterable[int],
    *,
    actor: str,
    reason: str,
    target: str,
) -> BulkResult:
    """Retry or discard many intents in one transaction; those no longer eligible are skipped."""
    result = BulkResult()
    for intent_id in intent_ids:
        intent = session.get(Intent, intent_id, with_for_update=True, populate_existing=True)
        try:
            if intent is None:
                raise NotFoundError(f"intent {intent_id} is gone")
            if action == "retry":
                _retry(settings, session, intent, actor=actor, reason=reason)
            else:
                _discard(session, intent, actor=actor, reason=reason)
        except (ConflictError, NotFoundError):
            # Changed since the person confirmed (or already re-driven with a sibling).
            result.skipped += 1
            continue
        result.changed.append(intent_id)
    audit.record(
        session,
        actor,
        f"intent.bulk_{action}",
        target,
        reason,
        count=len(result.changed),
        skipped=result.skipped,
        intent_ids=result.changed,
    )
    return result


def retry_doi(settings: Settings, session: Session, text: str, *, actor: str, reason: str) -> str:
    """Re-drive a failed DOI (any written form); returns what happened."""
    doi = dois.get_doi(session, text, for_update=True)
    if doi.state != DoiState.FAILED.value:
        raise ConflictError(f"DOI {doi.doi} is {doi.state}; only failed DOIs are re-driven")
    message = _redrive(settings, session, doi, actor=actor, reason=reason)
    audit.record(session, actor, "doi.retry", f"doi:{doi.doi}", reason, result=message)
    return message


def create_token(
    session: Session, name: str, scopes: list[str], *, actor: str
) -> tuple[ApiToken, str]:
    """A new API token; the plain text is returned once and recorded nowhere."""
    token, plain = tokens.create_token(session, name, scopes)
    audit.record(session, actor, "token.create", f"token:{name}", None, token_id=token.id)
    return token, plain


def revoke_token(session: Session, token_id: int, *, actor: str, reason: str) -> ApiToken:
    """Revoke a live API token."""
    token = tokens.revoke_token(session, token_id)
    audit.record(session, actor, "token.revoke", f"token:{token.name}", reason, token_id=token.id)
    return token


def _locked(session: Session, intent_id: int) -> Intent:
    intent = session.get(Intent, intent_id, with_for_update=True, populate_existing=True)
    if intent is None:
        raise NotFoundError(f"intent {intent_id} does not exist")
    return intent


def _retry(settings: Settings, session: Session, intent: Intent, *, actor: str, reason: str) -> str:
    if intent.status != FAILED:
        raise ConflictError(
            f"intent {intent.id} is {intent.status}; only failed intents are retried"
        )
    doi = _failed_doi(session, intent)
    if doi is not None:
        # Re-queuing would not help: a failed DOI's syncs do nothing until it is re-driven.
        return _redrive(settings, session, doi, actor=actor, reason=reason)
    intents.requeue(session, intent.id, actor=actor, reason=reason)
    return f"intent {intent.id} is pending again"


def _discard(session: Session, intent: Intent, *, actor: str, reason: str) -> None:
    if not outbox.discard(session, intent.id, reason=reason):
        raise ConflictError(
            f"intent {intent.id} is {intent.status}; only pending or failed intents are discarded"
        )
    outbox.record_event(session, intent.id, "operator", who=actor, action="discard", reason=reason)


def _failed_doi(session: Session, intent: Intent) -> Doi | None:
    """The failed DOI a sync_doi intent was for, locked; None for other topics or states."""
    doi_id = intent.payload.get("doi_id")
    if intent.topic != SYNC_DOI.name or not isinstance(doi_id, int):
        return None
    doi = session.get(Doi, doi_id, with_for_update=True)
    return doi if doi is not None and doi.state == DoiState.FAILED.value else None


def _redrive(settings: Settings, session: Session, doi: Doi, *, actor: str, reason: str) -> str:
    """failed → pending with a fresh sync; the failed intents it supersedes show who did it."""
    key = sync_key(doi)
    replaced = list(
        session.scalars(select(Intent.id).where(Intent.key == key, Intent.status == FAILED))
    )
    dois.redrive(settings, session, doi, reason=f"{reason} ({actor})")
    queued = session.scalars(
        select(Intent.id)
        .where(Intent.key == key, Intent.status == IntentStatus.PENDING.value)
        .order_by(Intent.id.desc())
        .limit(1)
    ).first()
    for intent_id in replaced:
        outbox.record_event(
            session,
            intent_id,
            "operator",
            who=actor,
            action="redrive",
            reason=reason,
            doi=doi.doi,
            new_intent=queued,
        )
    follow = f"intent {queued} queued" if queued is not None else "nothing to send"
    return f"DOI {doi.doi} re-driven (failed → pending); {follow}"
