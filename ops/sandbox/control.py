"""Control routes under /__sandbox/ (no auth): faults, request log, reset, DOI state."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from ops.sandbox import doi as doi_strings
from ops.sandbox.store import DRAFT, STATES, DoiRecord, utcnow

if TYPE_CHECKING:
    from ops.sandbox.app import SandboxApp

ROOT = "/__sandbox/"

CONTROL_MAP = Map(
    [
        Rule("/__sandbox/faults", endpoint="faults", methods=["GET", "POST", "DELETE"]),
        Rule("/__sandbox/requests", endpoint="requests", methods=["GET", "DELETE"]),
        Rule("/__sandbox/reset", endpoint="reset", methods=["POST"]),
        Rule("/__sandbox/config", endpoint="config", methods=["GET", "POST"]),
        Rule("/__sandbox/dois", endpoint="dois", methods=["GET"]),
        Rule("/__sandbox/dois/<path:doi>", endpoint="doi", methods=["GET", "PUT", "DELETE"]),
    ],
    merge_slashes=False,
    strict_slashes=False,
)


class ControlError(Exception):
    """A control request that cannot be carried out; answered 400 or 404."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def dispatch(app: SandboxApp, request: Request) -> Response:
    """Answer one control request."""
    try:
        endpoint, args = CONTROL_MAP.bind_to_environ(request.environ).match()
    except HTTPException as error:
        return _json({"error": error.description}, error.code or 404)
    handler = _HANDLERS.get((endpoint, "GET" if request.method == "HEAD" else request.method))
    if handler is None:
        return _json({"error": "method not allowed"}, 405)
    try:
        return handler(app, request, **args)
    except ControlError as error:
        return _json({"error": str(error)}, error.status)


def record_summary(record: DoiRecord) -> dict:
    """The control view of one DOI: state, URL and times."""
    return {
        "doi": record.doi,
        "state": record.state,
        "url": record.metadata.get("url"),
        "owner": record.owner,
        "created": record.created.isoformat(),
        "updated": record.updated.isoformat(),
        "registered": record.registered.isoformat() if record.registered else None,
        "metadataVersion": record.metadata_version,
    }


def _list_faults(app: SandboxApp, request: Request) -> Response:
    return _json([rule.to_json() for rule in app.faults.rules()])


def _add_faults(app: SandboxApp, request: Request) -> Response:
    body = _body(request)
    rules: list[Any] = body if isinstance(body, list) else [body]
    try:
        return _json(app.add_faults(rules), 201)
    except ValueError as error:
        raise ControlError(str(error)) from None


def _clear_faults(app: SandboxApp, request: Request) -> Response:
    app.faults.clear()
    return Response(status=204)


def _list_requests(app: SandboxApp, request: Request) -> Response:
    return _json(app.recorder.entries())


def _clear_requests(app: SandboxApp, request: Request) -> Response:
    app.recorder.clear()
    return Response(status=204)


def _reset(app: SandboxApp, request: Request) -> Response:
    app.reset()
    return Response(status=204)


def _show_config(app: SandboxApp, request: Request) -> Response:
    return _json({"domains": app.domains, "rate_limit": app.rate_limit})


def _change_config(app: SandboxApp, request: Request) -> Response:
    body = _body(request)
    if not isinstance(body, dict):
        raise ControlError("config must be a JSON object")
    domains = body.get("domains", app.domains)
    rate_limit = body.get("rate_limit", app.rate_limit)
    try:
        app.configure(domains=domains, rate_limit=rate_limit)
    except (ValueError, TypeError, AttributeError) as error:
        raise ControlError(str(error)) from None
    return _show_config(app, request)


def _list_dois(app: SandboxApp, request: Request) -> Response:
    return _json([record_summary(record) for record in app.store.all()])


def _show_doi(app: SandboxApp, request: Request, doi: str) -> Response:
    record = app.store.get(_doi(doi))
    if record is None:
        raise ControlError(f"no such DOI: {doi}", 404)
    return _json({**record_summary(record), "attributes": record.metadata})


def _seed_doi(app: SandboxApp, request: Request, doi: str) -> Response:
    body = _body(request)
    if not isinstance(body, dict):
        raise ControlError("seed must be a JSON object")
    record = _seed_record(app, _doi(doi), body)
    created = app.store.seed(record)
    return _json(record_summary(record), 201 if created else 200)


def _remove_doi(app: SandboxApp, request: Request, doi: str) -> Response:
    if not app.store.remove(_doi(doi)):
        raise ControlError(f"no such DOI: {doi}", 404)
    return Response(status=204)


def _seed_record(app: SandboxApp, doi: str, body: dict) -> DoiRecord:
    state = body.get("state", DRAFT)
    if state not in STATES:
        raise ControlError(f"state must be one of {list(STATES)}")
    owner = str(body.get("owner") or app.accounts.default_user).upper()
    attributes = body.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise ControlError("attributes must be an object")
    now = utcnow()
    created = _time(body.get("created")) or now
    return DoiRecord(
        doi=doi,
        owner=owner,
        state=state,
        metadata=attributes,
        created=created,
        updated=_time(body.get("updated")) or now,
        registered=None if state == DRAFT else (_time(body.get("registered")) or now),
    )


def _doi(raw: str) -> str:
    doi = doi_strings.extract(raw)
    if doi is None:
        raise ControlError(f"not a DOI: {raw}", 404)
    return doi


def _time(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ControlError(f"not an ISO time: {value}") from None
    if moment.tzinfo is None:
        raise ControlError(f"time needs a zone: {value}")
    return moment


def _body(request: Request) -> object:
    try:
        return json.loads(request.get_data() or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ControlError("body must be JSON") from None


def _json(body: object, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


_HANDLERS: dict[tuple[str, str], Callable[..., Response]] = {
    ("faults", "GET"): _list_faults,
    ("faults", "POST"): _add_faults,
    ("faults", "DELETE"): _clear_faults,
    ("requests", "GET"): _list_requests,
    ("requests", "DELETE"): _clear_requests,
    ("reset", "POST"): _reset,
    ("config", "GET"): _show_config,
    ("config", "POST"): _change_config,
    ("dois", "GET"): _list_dois,
    ("doi", "GET"): _show_doi,
    ("doi", "PUT"): _seed_doi,
    ("doi", "DELETE"): _remove_doi,
}
