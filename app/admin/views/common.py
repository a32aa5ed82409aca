"""Small helpers the admin views share: arguments, reasons, actions that report back."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from flask import flash, redirect, request
from flask.typing import ResponseReturnValue

from app.admin.blueprint import bp
from app.admin.security import principal
from app.enums import AdminRole
from app.services.errors import InvalidInputError, ServiceError

log = logging.getLogger("doiflow.admin")

MAX_REASON = 1000
NAV = (
    ("admin.dashboard", "Dashboard", AdminRole.VIEWER),
    ("admin.outbox", "Outbox", AdminRole.VIEWER),
    ("admin.dois", "DOIs", AdminRole.VIEWER),
    ("admin.jobs", "Jobs", AdminRole.VIEWER),
    ("admin.tokens", "API tokens", AdminRole.VIEWER),
    ("admin.audit", "Audit log", AdminRole.VIEWER),
    ("admin.users", "Users", AdminRole.ADMIN),
)


@bp.context_processor
def _template_globals() -> dict[str, Any]:
    return {"nav": NAV, "Role": AdminRole}


@bp.app_template_filter("when")
def when(moment: datetime | None) -> str:
    """A UTC time as people read it; an em dash for none."""
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment is not None else "—"


@bp.app_template_filter("when_precise")
def when_precise(moment: datetime) -> str:
    """A UTC time to the millisecond: timeline entries are often milliseconds apart."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


@bp.app_template_filter("duration")
def duration(seconds: float) -> str:
    """A length of time as people read it: 45 s, 12 min, 5 h, 3 d."""
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def int_arg(args: Mapping[str, str], name: str) -> int | None:
    """A positive integer argument, or None when absent or malformed."""
    value = (args.get(name) or "").strip()
    return int(value) if value.isdigit() else None


def reason(*, required: bool, default: str = "") -> str:
    """The form's `reason`, trimmed; InvalidInputError when required and empty."""
    text = (request.form.get("reason") or "").strip()[:MAX_REASON]
    if required and not text:
        raise InvalidInputError("a reason is required: say why, for the audit log")
    return text or default


def act(action: Callable[[], str], back: str) -> ResponseReturnValue:
    """Run an action; flash what happened (or why it was refused) and go `back`."""
    try:
        message = action()
    except ServiceError as error:
        flash(error.message, "error")
        log.info(
            "admin action refused",
            extra={"action": "admin_action_refused", "actor": principal().actor},
        )
    else:
        flash(message, "ok")
        log.info(
            "admin action",
            extra={"action": "admin_action", "actor": principal().actor, "result": message},
        )
    return redirect(back, code=303)
