"""Looking up DOIs by any of their written forms, and re-driving failed ones."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import outbox
from app.config import Settings
from app.db import utcnow
from app.enums import DoiState
from app.models import Doi
from app.services.doi_policy import request_sync, sync_key
from app.services.errors import ConflictError, InvalidInputError, NotFoundError
from app.services.identifiers import normalise_doi
from app.states.doi import apply


def get_doi(session: Session, text: str, *, for_update: bool = False) -> Doi:
    """The DOI row for `10.x/y`, `doi:10.x/y` or `https://doi.org/10.x/y`, any case."""
    canonical = normalise_doi(text)
    if canonical is None:
        raise InvalidInputError(
            f"{text!r} is not a DOI (expected 10.NNNN/suffix)", {"field": "doi"}
        )
    query = select(Doi).where(Doi.doi == canonical)
    doi = session.scalars(query.with_for_update() if for_update else query).first()
    if doi is None:
        raise NotFoundError(f"DOI {canonical} is not managed by doiflow")
    return doi


def retry(settings: Settings, session: Session, text: str, *, reason: str) -> Doi:
    """Re-drive a failed DOI: back to pending, attempts reset, a fresh sync queued."""
    doi = get_doi(session, text, for_update=True)
    if doi.state != DoiState.FAILED.value:
        raise ConflictError(
            f"DOI {doi.doi} is {doi.state}, not failed; only failed DOIs are re-driven"
        )
    redrive(settings, session, doi, reason=reason)
    return doi


def redrive(settings: Settings, session: Session, doi: Doi, *, reason: str) -> None:
    """failed → pending, and a sync; the failed intents it replaces are superseded."""
    apply(doi, "redrive", publishing_allowed=settings.doi_publish, detail=reason)
    doi.attempts = 0
    doi.last_error = None
    doi.next_attempt_at = None
    # What DataCite holds is unknown again (the state before the failure is gone from the
    # row): the next delivery looks first. The doubt dates from the failure, the last time
    # a write of ours went out, so a failure long past makes no one wait the write grace.
    doi.in_doubt_since = doi.in_doubt_since or doi.updated_at or utcnow()
    # The failed intents stay as history, but health no longer counts them.
    outbox.supersede_failed(session, sync_key(doi))
    session.flush()
    request_sync(session, settings, doi)
