"""Looking up DOIs by any of their written forms, and re-driving failed ones."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.enums import DoiState
from app.models import Doi
from app.runtime import Runtime
from app.services import doi_sync
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


def retry(runtime: Runtime, session: Session, text: str, *, reason: str) -> Doi:
    """Re-drive a failed DOI: back to pending, attempts reset, a fresh sync queued."""
    doi = get_doi(session, text, for_update=True)
    if doi.state != DoiState.FAILED.value:
        raise ConflictError(
            f"DOI {doi.doi} is {doi.state}, not failed; only failed DOIs are re-driven"
        )
    apply(doi, "redrive", publishing_allowed=runtime.settings.doi_publish, detail=reason)
    doi.attempts = 0
    doi.last_error = None
    session.flush()
    doi_sync.request(session, runtime, doi)
    return doi
