"""The `/admin` blueprint: CSRF on every POST, safe headers, HTML errors, a last scrub."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from app.admin.context import QueryTooSlowError, settings
from app.admin.redact import configured_secrets, scrub
from app.admin.security import CSRF
from app.services.errors import ServiceError

log = logging.getLogger("doiflow.admin")

bp = Blueprint(
    "admin",
    __name__,
    url_prefix="/admin",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
HEADERS = {
    # No script, style or image from anywhere else; no framing; forms post only here.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@bp.before_request
def _check_csrf() -> None:
    """Every state change needs the form's token, before any other check runs."""
    if request.method not in SAFE_METHODS:
        CSRF.protect()


@bp.after_request
def _harden(response: Response) -> Response:
    """Security headers, no caching (a new token is shown once), secrets scrubbed."""
    response.headers.update(HEADERS)
    if request.endpoint != "admin.static":
        response.headers["Cache-Control"] = "no-store"
    if response.mimetype == "text/html" and not response.direct_passthrough:
        page = response.get_data(as_text=True)
        clean = scrub(page, configured_secrets(settings()))
        if clean != page:
            log.error(
                "secret scrubbed from an admin page", extra={"action": "admin_secret_scrubbed"}
            )
            response.set_data(clean)
    return response


@bp.errorhandler(CSRFError)
def _csrf_error(error: CSRFError) -> ResponseReturnValue:
    log.warning("admin form refused: CSRF", extra={"action": "admin_csrf_refused"})
    return _error_page(
        400, "Refused: the form's security token is missing or invalid", error.description
    )


@bp.errorhandler(QueryTooSlowError)
def _too_slow(error: QueryTooSlowError) -> ResponseReturnValue:
    return _error_page(
        503,
        "That query took too long",
        f"{error}; narrow the filter (status, topic, key) and retry.",
    )


@bp.errorhandler(ServiceError)
def _service_error(error: ServiceError) -> ResponseReturnValue:
    return _error_page(error.status, "Refused", error.message)


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> ResponseReturnValue:
    if error.code is not None and error.code < 400:
        return error
    return _error_page(error.code or 500, error.name, error.description or "")


def _error_page(status: int, title: str, message: str) -> ResponseReturnValue:
    return render_template("admin/error.html", title=title, message=message, status=status), status
