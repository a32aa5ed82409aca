"""The audit log: every admin, operator and CLI action, with who, when, what and why."""

from __future__ import annotations

import getpass
import logging
from typing import Any

from sqlalchemy.orm import Session

from app.models import AuditLog

log = logging.getLogger("doiflow.audit")


def record(
    session: Session,
    actor: str,
    action: str,
    target: str | None,
    reason: str | None = None,
    **data: Any,
) -> AuditLog:
    """Append one entry in the caller's transaction (it commits with the action itself)."""
    entry = AuditLog(actor=actor, action=action, target=target, reason=reason, data=data)
    session.add(entry)
    log.warning(
        "audited action",
        extra={"action": f"audit_{action}", "actor": actor, "target": target, "reason": reason},
    )
    return entry


def admin_actor(email: str) -> str:
    """The actor of an action taken on the admin page."""
    return f"admin:{email}"


def cli_actor() -> str:
    """The actor of a CLI command: the operating-system user who ran it."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        user = "unknown"
    return f"cli:{user}"
