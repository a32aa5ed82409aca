"""One JSON error shape for every failure: `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException, InternalServerError

from app.services.errors import ServiceError

log = logging.getLogger("doiflow.api")

# Headers worth keeping from werkzeug's own answers (405 lists the allowed methods).
KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


class ApiError(ServiceError):
    """A refusal decided in the API layer itself (authentication, request body)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, details)
        self.status = status
        self.code = code
        self.headers = headers or {}


# An error never echoes a huge input back: longer texts are cut to this many characters.
MESSAGE_LIMIT = 500
DETAIL_LIMIT = 200


def shorten(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """`text`, or its head and how much was left out when it is longer than `limit`."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters left out)"


def _shorten_details(details: Any, depth: int = 0) -> Any:
    if isinstance(details, str):
        return shorten(details, DETAIL_LIMIT)
    if depth > 4:
        return None  # details are a few fields deep; anything deeper is an echo
    if isinstance(details, list):
        kept = [_shorten_details(item, depth + 1) for item in details[:50]]
        return kept + ([f"… {len(details) - 50} more"] if len(details) > 50 else [])
    if isinstance(details, dict):
        return {
            shorten(str(key), DETAIL_LIMIT): _shorten_details(value, depth + 1)
            for key, value in list(details.items())[:50]
        }
    return details


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> Response:
    """The error envelope as a Flask response; long texts in it are shortened."""
    envelope = {"code": code, "message": shorten(message), "details": _shorten_details(details)}
    response = jsonify({"error": envelope})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


API_PREFIX = "/api"


def register_error_handlers(bp: Blueprint) -> None:
    """Install the handlers on the API blueprint: its errors leave in the JSON envelope.

    Other blueprints (the admin pages) keep Flask's HTML errors.
    """
    bp.register_error_handler(ServiceError, _service_error)
    bp.register_error_handler(HTTPException, _http_error)
    bp.register_error_handler(IntegrityError, _integrity_error)
    bp.register_error_handler(StaleDataError, _stale_error)
    bp.register_error_handler(OperationalError, _database_down)
    # Registered for the 500 exception, not Exception, so Flask still logs the traceback.
    bp.register_error_handler(InternalServerError, _internal_error)


def register_routing_errors(app: Flask) -> None:
    """A 404 or 405 under /api is decided before any blueprint is: answer JSON there too."""

    def routing_error(error: HTTPException) -> Response | HTTPException:
        if not (request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")):
            return error
        if isinstance(error, InternalServerError):
            return _internal_error(error)
        return _http_error(error)

    app.register_error_handler(HTTPException, routing_error)


def _service_error(error: ServiceError) -> Response:
    headers = error.headers if isinstance(error, ApiError) else None
    return error_response(error.status, error.code, error.message, error.details, headers)


def _http_error(error: HTTPException) -> Response | HTTPException:
    status = error.code or 500
    if status < 400:
        return error  # routing redirects keep their own answer
    original = error.get_response().headers
    kept = {name: original[name] for name in KEPT_HEADERS if name in original}
    return error_response(status, _slug(error.name), error.description or error.name, None, kept)


def _internal_error(error: InternalServerError) -> Response:
    # The original exception is logged by Flask; its text may hold internals, so it stays out.
    return error_response(
        500, "internal_error", "internal server error; the details are in the server log"
    )


def _integrity_error(error: IntegrityError) -> Response:
    # A concurrent request won a uniqueness race the service's own checks could not see.
    log.warning(
        "integrity error", extra={"action": "api_integrity_error", "sqlstate": _sqlstate(error)}
    )
    return error_response(
        409, "conflict", "the request conflicts with a concurrent change; retry it"
    )


def _stale_error(error: StaleDataError) -> Response:
    log.warning("stale row", extra={"action": "api_stale_row"})
    return error_response(409, "conflict", "a row changed while the request ran; retry it")


def _database_down(error: OperationalError) -> Response:
    # The exception text names hosts; the log keeps only its class and SQLSTATE.
    log.error(
        "database unavailable",
        extra={"action": "api_database_unavailable", "sqlstate": _sqlstate(error)},
    )
    return error_response(
        503,
        "database_unavailable",
        "the database is unavailable; retry later",
        None,
        {"Retry-After": "5"},
    )


def _sqlstate(error: DBAPIError) -> str | None:
    return getattr(error.orig, "sqlstate", None)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
