"""The audit log: every admin or operator action, who did it, when and why."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from app.models import AuditLog

log = logging.getLogger("doiflow.audit")


def record(
    session: Session, *, actor: str, action: str, target: str, reason: str, **details: Any
) -> AuditLog:
    """One audit row, in the caller's transaction (so it exists exactly when the action does)."""
    entry = AuditLog(actor=actor, action=action, target=target, reason=reason, details=details)
    session.add(entry)
    session.flush()
    log.warning(
        "audited action",
        extra={"action": f"audit_{action}", "actor": actor, "target": target, "reason": reason},
    )
    return entry
