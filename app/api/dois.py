"""DOI endpoints; DOIs contain slashes, so they are matched as paths."""

from __future__ import annotations

from flask.typing import ResponseReturnValue

from app.api import serialize
from app.api.auth import current_caller, require
from app.api.blueprint import bp
from app.api.context import current_settings, transaction
from app.api.validation import path_text, read_body
from app.enums import Scope
from app.services import dois, stash


@bp.get("/dois/<path:doi>")
@require(Scope.READ)
def get_doi(doi: str) -> ResponseReturnValue:
    """A DOI in any written form (`10.x/y`, `doi:`, `https://doi.org/`), with its history."""
    path_text("doi", doi)
    with transaction() as session:
        row = dois.get_doi(session, doi)
        return serialize.doi_json(row, stashes=stash.of_doi(session, row.id))


@bp.post("/dois/<path:doi>/retry")
@require(Scope.OPERATOR)
def retry_doi(doi: str) -> ResponseReturnValue:
    """Re-drive a failed DOI; the optional body `{"reason"}` goes into its history."""
    path_text("doi", doi)
    body = read_body("Retry", may_be_empty=True)
    caller = current_caller()
    # The token's name, not the token, so the history says who re-drove it.
    reason = f"{body.get('reason') or 'retried through the API'} (API token {caller.name!r})"
    with transaction() as session:
        row = dois.retry(current_settings(), session, doi, reason=reason)
        answer = serialize.doi_json(row, stashes=stash.of_doi(session, row.id))
    return answer, 202
