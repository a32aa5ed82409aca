"""DataCite's `/dois` endpoints, with lupo's order of checks.

Bad credentials (401) come first, then a body that is not JSON (400: Rails parses it in
a before_action). An existing DOI is then authorized (401/403) before its payload is
read (400); a new one is looked at in path (404), payload (400), prefix (403) order.
Anything left is the model's validation (422).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from ops.sandbox import document, listing, params, validation
from ops.sandbox import doi as doi_strings
from ops.sandbox.accounts import BadCredentialsError
from ops.sandbox.store import (
    FINDABLE,
    AlreadyTakenError,
    DoiRecord,
    InvalidRecordError,
    NotDraftError,
    NotOwnerError,
)

if TYPE_CHECKING:
    from ops.sandbox.app import SandboxApp

# What lupo answers in `Allow` when asked to delete a DOI that is not a draft.
ALLOW_WITHOUT_DELETE = "HEAD, GET, POST, PATCH, PUT, OPTIONS"


class ApiError(Exception):
    """Carries the answer a handler gives up with."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def fail(status: int, title: str, headers: dict | None = None) -> ApiError:
    """Build an ApiError with DataCite's plain error body."""
    return ApiError(document.error_response(status, title, headers))


def not_found() -> ApiError:
    """The 404 DataCite gives for missing and hidden resources alike."""
    return fail(404, document.NOT_FOUND)


def heartbeat(app: SandboxApp, request: Request) -> Response:
    """Answer DataCite's liveness check."""
    return Response("OK", content_type="text/plain; charset=utf-8")


def get_doi(app: SandboxApp, request: Request, raw: str) -> Response:
    """GET /dois/{doi}: findable to anyone, draft and registered to the owner only."""
    user = authenticate(app, request)
    doi = doi_strings.extract(raw)
    record = app.store.get(doi) if doi else None
    if record is None or (record.state != FINDABLE and record.owner != user):
        raise not_found()
    return _doi_answer(request, record, 200)


def list_dois(app: SandboxApp, request: Request) -> Response:
    """GET /dois: the visible DOIs, filtered, ordered and paged as lupo's index action."""
    user = authenticate(app, request)
    records = listing.select(app.store.all(), request.args, user)
    wants_object = _wants_publisher_object(request)
    body = listing.answer(
        records,
        listing.page_from(request.args),
        request.args,
        self_url=request.url,
        base_url=request.host_url.rstrip("/"),
        render=lambda record: document.doi_resource(record, publisher_object=wants_object),
    )
    return document.json_response(body)


def put_doi(app: SandboxApp, request: Request, raw: str) -> Response:
    """PUT or PATCH /dois/{doi}: create (201) or partially update (200)."""
    user = authenticate(app, request)
    payload = read_payload(request)
    doi = doi_strings.extract(raw)
    if doi is None:
        raise not_found()
    existing = app.store.get(doi)
    if existing is not None:
        # DataciteDoisController#update runs `authorize! :update` before reading `data`.
        authorize_owner(existing, user)
    attributes = payload_attributes(payload)
    user = require_user(user)
    if existing is None and not app.accounts.owns(user, doi_strings.prefix_of(doi)):
        raise fail(403, document.FORBIDDEN)
    record, created = _write(app, doi, attributes, user)
    return _doi_answer(request, record, 201 if created else 200)


def post_dois(app: SandboxApp, request: Request) -> Response:
    """POST /dois: create only; an existing DOI is 422 "already taken"."""
    user = authenticate(app, request)
    payload = read_payload(request)
    # DataciteDoisController#create refuses anonymous callers before reading `data`.
    user = require_user(user)
    attributes = payload_attributes(payload)
    doi, minted = _doi_to_create(attributes)
    if not app.accounts.owns(user, doi_strings.prefix_of(doi)):
        raise fail(403, document.FORBIDDEN)
    while True:
        try:
            record, _ = _write(app, doi, attributes, user, create_only=True)
            break
        except AlreadyTakenError:
            if not minted:
                return document.taken_response(doi)
            doi = f"{doi_strings.prefix_of(doi)}/{doi_strings.random_suffix()}"
    answer = _doi_answer(request, record, 201)
    answer.headers["Location"] = f"{request.host_url}dois/{record.doi}"
    return answer


def delete_doi(app: SandboxApp, request: Request, raw: str) -> Response:
    """DELETE /dois/{doi}: drafts only (204); anything else is 405."""
    user = authenticate(app, request)
    doi = doi_strings.extract(raw)
    if doi is None:
        raise not_found()
    try:
        app.store.delete_draft(doi, user=user)
    except KeyError:
        raise not_found() from None
    except NotOwnerError:
        if user is None:
            raise fail(401, document.BAD_CREDENTIALS) from None
        raise fail(403, document.FORBIDDEN) from None
    except NotDraftError:
        headers = {"Allow": ALLOW_WITHOUT_DELETE}
        raise fail(405, "Method not allowed", headers) from None
    return _no_content()


def authenticate(app: SandboxApp, request: Request) -> str | None:
    """Return the account behind the request, None if anonymous; 401 on bad credentials."""
    try:
        return app.accounts.authenticate(request.headers.get("Authorization"))
    except BadCredentialsError:
        raise fail(401, document.BAD_CREDENTIALS) from None


def authorize_owner(record: DoiRecord, user: str | None) -> None:
    """Refuse a change to someone else's DOI: 401 when anonymous, as lupo does, else 403."""
    if record.owner == user:
        return
    if user is None:
        raise fail(401, document.BAD_CREDENTIALS)
    raise fail(403, document.FORBIDDEN)


def require_user(user: str | None) -> str:
    """Refuse anonymous writes the way DataCite does (401, not 403)."""
    if user is None:
        raise fail(401, document.BAD_CREDENTIALS)
    return user


def read_payload(request: Request) -> object:
    """Parse the request body as JSON; 400 when it is not."""
    try:
        return json.loads(request.get_data(cache=True) or b"null")
    except (ValueError, UnicodeDecodeError) as error:
        raise fail(400, f"The request body is not valid JSON: {error}") from None


def payload_attributes(payload: object) -> dict:
    """Return `data.attributes` of a JSON:API payload; 400 when there is no `data`."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        raise fail(400, document.NO_PAYLOAD)
    attributes = data.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise fail(400, document.NO_PAYLOAD)
    return attributes


def peek_attributes(request: Request) -> dict:
    """Return the payload's attributes if there are any, without failing."""
    try:
        return payload_attributes(read_payload(request))
    except ApiError:
        return {}


def _write(
    app: SandboxApp, doi: str, attributes: dict, user: str, create_only: bool = False
) -> tuple[DoiRecord, bool]:
    def check(record: DoiRecord, created: bool) -> list[dict]:
        return validation.check(record, created=created, domains=app.domains, client=user)

    attributes = params.sanitize(attributes)
    try:
        return app.store.write(doi, attributes, user=user, validate=check, create_only=create_only)
    except NotOwnerError:
        raise fail(403, document.FORBIDDEN) from None
    except InvalidRecordError as error:
        raise ApiError(document.validation_response(error.errors, doi)) from None


def _doi_to_create(attributes: dict) -> tuple[str, bool]:
    """Return the DOI a POST asks for, and whether the sandbox minted its suffix."""
    raw, prefix, suffix = (attributes.get(k) for k in ("doi", "prefix", "suffix"))
    if raw:
        doi = doi_strings.extract(raw)
        if doi is None:
            raise ApiError(document.validation_response([_error("doi", "Is invalid")], raw))
        return doi, False
    if isinstance(prefix, str) and prefix:
        if isinstance(suffix, str) and suffix:
            return f"{prefix}/{suffix}".lower(), False
        return f"{prefix.lower()}/{doi_strings.random_suffix()}", True
    raise ApiError(document.validation_response([_error("doi", "Can't be blank")], None))


def _no_content() -> Response:
    answer = Response(status=204)
    # Rails' `head :no_content` sends no Content-Type at all.
    del answer.headers["Content-Type"]
    return answer


def _error(source: str, title: str) -> dict:
    return {"source": source, "title": title}


def _doi_answer(request: Request, record: DoiRecord, status: int) -> Response:
    resource = document.doi_resource(record, publisher_object=_wants_publisher_object(request))
    return document.json_response({"data": resource}, status)


def _wants_publisher_object(request: Request) -> bool:
    return request.args.get("publisher") == "true"
