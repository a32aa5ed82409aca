"""The dashboard: counts from the cached snapshot, what needs a person now, throughput."""

from __future__ import annotations

from typing import Any

from flask import render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import String, cast, func, literal, select
from sqlalchemy.orm import Session

from app.admin import chart
from app.admin.blueprint import bp
from app.admin.context import reading, settings
from app.admin.queries import dashboard as snapshots
from app.admin.security import requires
from app.api.context import current_runtime
from app.db import utcnow
from app.enums import AdminRole, DoiState, HoldState, IntentStatus
from app.models import Doi, Intent
from app.services import health, health_checks

FAILED_SHOWN = 10


@bp.get("/")
@requires(AdminRole.VIEWER)
def dashboard() -> ResponseReturnValue:
    """Counts per state and status, outbox lag, health problems, throughput."""
    config = settings()
    snapshot = snapshots.current(current_runtime(), config.admin_snapshot_seconds)
    data = snapshot.data if snapshot is not None else {}
    cached = data.get("blob_problems")
    known = {"blob_problems": int(cached)} if cached is not None else None
    with reading() as session:
        # Bounded checks (health's COUNT_LIMIT): cheap enough for every view, but for the
        # scans of every blob, dataset and version, which come from the snapshot.
        checks = health_checks.measure(session, config, archive_wide=False, known=known)
        failed = _failed_dois(session)
    return render_template(
        "admin/dashboard.html",
        title="Dashboard",
        snapshot=snapshot,
        age=(utcnow() - snapshot.taken_at).total_seconds() if snapshot is not None else None,
        dois=_ordered(data.get("dois"), DoiState),
        intents=_ordered(data.get("intents"), IntentStatus),
        holds=_ordered(data.get("holds"), HoldState),
        chart=chart.build(data.get("throughput")),
        checks=checks,
        problems=health.problems_in(checks, config),
        failed=failed,
        config_seconds=round(config.admin_snapshot_seconds),
    )


def _failed_dois(session: Session) -> list[Any]:
    """The most recently failed DOIs, each with its newest failed intent."""
    last_intent = (
        select(func.max(Intent.id))
        .where(
            Intent.key == literal("doi:") + cast(Doi.id, String),
            Intent.status == IntentStatus.FAILED.value,
        )
        .scalar_subquery()
    )
    query = (
        select(
            Doi.doi, Doi.last_status, Doi.last_error, Doi.updated_at, last_intent.label("intent_id")
        )
        .where(Doi.state == DoiState.FAILED.value)
        .order_by(Doi.updated_at.desc())
        .limit(FAILED_SHOWN)
    )
    return list(session.execute(query))


def _ordered(counts: dict[str, int] | None, vocabulary: Any) -> list[tuple[str, int]] | None:
    """Every value of the vocabulary in its own order, zeros included."""
    if counts is None:
        return None
    return [(member.value, int(counts.get(member.value, 0))) for member in vocabulary]
