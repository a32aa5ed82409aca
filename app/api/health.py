"""Readiness for monitors: the database answers, the relay keeps up, nothing is stuck failed."""

from __future__ import annotations

import logging
from typing import Any

from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app import outbox
from app.api.auth import authenticate_request
from app.api.blueprint import bp
from app.api.context import transaction
from app.enums import DoiState, IntentStatus, Scope
from app.models import Doi, Intent

log = logging.getLogger("doiflow.api")

MAX_OUTBOX_LAG_SECONDS = 300.0


@bp.get("/health")
def health() -> ResponseReturnValue:
    """200 with no problems, or 503 listing them."""
    try:
        authenticate_request(Scope.READ)
        with transaction() as session:
            checks = measure(session)
    except DBAPIError as error:
        # Without a database the token cannot be checked either; saying so leaks nothing.
        log.error(
            "health: database unreachable",
            extra={"action": "health_database", "error": type(error).__name__},
        )
        checks = {"database": "unreachable"}
    problems = problems_in(checks)
    status = "ok" if not problems else "failing"
    return {"status": status, "problems": problems, "checks": checks}, 200 if not problems else 503


def measure(session: Session) -> dict[str, Any]:
    """The numbers the health verdict is made from."""
    return {
        "database": "ok",
        "outbox_lag_seconds": round(outbox.lag_seconds(session), 1),
        "failed_dois": _count(
            session, select(func.count()).select_from(Doi).where(Doi.state == DoiState.FAILED.value)
        ),
        "failed_intents": _count(
            session,
            select(func.count())
            .select_from(Intent)
            .where(Intent.status == IntentStatus.FAILED.value),
        ),
    }


def problems_in(checks: dict[str, Any]) -> list[dict[str, str]]:
    """One `{"check", "message"}` per failing check."""
    if checks["database"] != "ok":
        return [{"check": "database", "message": "the database is unreachable"}]
    problems = []
    lag = checks["outbox_lag_seconds"]
    if lag > MAX_OUTBOX_LAG_SECONDS:
        problems.append(
            {
                "check": "outbox_lag",
                "message": f"the oldest due intent has waited {lag:.0f} s "
                f"(limit {MAX_OUTBOX_LAG_SECONDS:.0f} s): is the relay running?",
            }
        )
    if checks["failed_dois"]:
        problems.append(
            {
                "check": "failed_dois",
                "message": f"{checks['failed_dois']} DOI(s) failed and need a person or a retry",
            }
        )
    if checks["failed_intents"]:
        problems.append(
            {
                "check": "failed_intents",
                "message": f"{checks['failed_intents']} outbox intent(s) failed",
            }
        )
    return problems


def _count(session: Session, query: Any) -> int:
    return int(session.scalar(query) or 0)
