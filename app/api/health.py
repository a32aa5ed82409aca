"""Readiness for monitors: 200, or 503 listing what needs a person now (app.services.health)."""

from __future__ import annotations

import logging

from flask.typing import ResponseReturnValue
from sqlalchemy.exc import DBAPIError

from app import schema
from app.api.auth import authenticate_request
from app.api.blueprint import bp
from app.api.context import current_runtime, current_settings, transaction
from app.enums import Scope
from app.services import health as checks_service
from app.services import health_checks

log = logging.getLogger("doiflow.api")


@bp.get("/health")
def health() -> ResponseReturnValue:
    """200 with no problems, or 503 listing them."""
    settings = current_settings()
    try:
        # Before the token: with the schema behind, the token table itself may be missing.
        with current_runtime().engine.connect() as connection:
            outdated = schema.status(connection).problem()
        if outdated is not None:
            checks = {"database": "schema_outdated", "schema": outdated}
        else:
            authenticate_request(Scope.READ)
            with transaction() as session:
                checks = health_checks.measure(session, settings, archive_wide=False)
    except DBAPIError as error:
        # Without a database the token cannot be checked either; saying so leaks nothing.
        log.error(
            "health: database unreachable",
            extra={"action": "health_database", "error": type(error).__name__},
        )
        checks = {"database": "unreachable"}
    problems = [p.as_json() for p in checks_service.problems_in(checks, settings)]
    warnings = [w.as_json() for w in checks_service.warnings_in(settings, checks)]
    status = "ok" if not problems else "failing"
    answer = {"status": status, "problems": problems, "warnings": warnings, "checks": checks}
    return answer, 200 if not problems else 503
