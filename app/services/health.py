"""What needs a person now: the one check behind `/api/health`, `doiflow doi check`
and the clock's snapshot.

The checks are measured in `app.services.health_checks`; this module gives the verdict:
the problems that need a person now, and the warnings worth knowing.

DataCite's reachability is the one remote check: `doiflow doi check` makes its GET
(`app.services.datacite_probe`, outside any transaction) and adds the answer as the
`datacite` check; `/api/health` never calls DataCite (a monitor scraping it every few
seconds would spend the shared rate limit, and the web path has no DataCite client).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.config import Settings
from app.services.health_checks import COUNT_LIMIT, measure


@dataclass(frozen=True)
class Problem:
    """One thing that needs a person, with a message saying what to do."""

    check: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"check": self.check, "message": self.message}


def snapshot(session: Session, settings: Settings, *, now: datetime | None = None) -> dict:
    """The checks and the verdict as JSON (the clock's dashboard snapshot keeps it)."""
    checks = measure(session, settings, now=now)
    return {
        "checks": checks,
        "problems": [p.as_json() for p in problems_in(checks, settings)],
        "warnings": [w.as_json() for w in warnings_in(settings, checks)],
    }


def warnings_in(settings: Settings, checks: dict[str, Any] | None = None) -> list[Problem]:
    """What is worth knowing but needs no one now (the answer stays 200)."""
    found = []
    if not settings.s3_configured:
        found.append(
            Problem(
                "legal_holds",
                "S3 is not configured (S3_BUCKET is unset): published data is not protected "
                "by legal holds; set S3_BUCKET, then run `doiflow holds backfill`",
            )
        )
    checks = checks or {}
    waiting = checks.get("drafts_waiting_for_publish")
    if waiting and not settings.doi_publish:
        found.append(
            Problem(
                "drafts_waiting_for_publish",
                f"{_count(waiting)} version DOI(s) are drafts because DOI_PUBLISH is false; "
                "once it is true, `doiflow doi remediate` makes them findable",
            )
        )
    missing = checks.get("public_datasets_without_concept_doi")
    if missing and not settings.datacite_configured:
        found.append(
            Problem(
                "datacite_not_configured",
                f"DataCite is not configured: {_count(missing)} public dataset(s) have no DOI; "
                "set DATACITE_*, then run `doiflow doi remediate`",
            )
        )
    return found


def problems_in(checks: dict[str, Any], settings: Settings) -> list[Problem]:
    """One Problem per failing check."""
    if checks["database"] == "schema_outdated":
        return [Problem("schema", checks["schema"])]
    if checks["database"] != "ok":
        return [Problem("database", "the database is unreachable")]
    found = []
    lag, lag_limit = checks["outbox_lag_seconds"], settings.health_lag_seconds
    if lag > lag_limit:
        found.append(
            Problem(
                "outbox_lag",
                f"the oldest due intent has waited {lag:.0f} s (limit {lag_limit:.0f} s): "
                "is the relay running?",
            )
        )
    if checks["failed_dois"]:
        found.append(
            Problem(
                "failed_dois",
                f"{_count(checks['failed_dois'])} DOI(s) failed: read their last_error, fix the "
                "cause, then POST /api/dois/{doi}/retry",
            )
        )
    if checks["stuck_intents"]:
        found.append(
            Problem(
                "stuck_intents",
                f"{_count(checks['stuck_intents'])} intent(s) open for longer than "
                f"{settings.health_stuck_seconds:.0f} s: DataCite throttling, or no worker",
            )
        )
    if checks["concepts_waiting_on_a_failed_version"]:
        found.append(
            Problem(
                "concepts_waiting",
                f"{_count(checks['concepts_waiting_on_a_failed_version'])} concept DOI(s) wait "
                "for a version DOI that failed: re-drive the version DOI",
            )
        )
    relay = checks["seconds_since_a_relay_pass"]
    if lag > 0 and (relay is None or relay > settings.health_silent_seconds):
        since = "ever" if relay is None else f"for {relay:.0f} s"
        found.append(
            Problem(
                "relay_silent",
                f"intents are due but no relay has completed a pass {since}: "
                "is `doiflow relay` running (and not stuck)?",
            )
        )
    if checks["failed_holds"]:
        found.append(
            Problem(
                "failed_holds",
                f"{_count(checks['failed_holds'])} legal hold(s) failed (a missing object, a "
                "bucket without Object Lock, or S3 refusing): read their last_error, fix the "
                "cause, then re-drive the job (POST /api/jobs/{id}/retry)",
            )
        )
    if checks["blob_problems"]:
        found.append(
            Problem(
                "blob_problems",
                f"{_count(checks['blob_problems'])} blob version(s) differ from what S3 holds "
                "(a hold missing or unexpected, an object missing, a checksum, or a delete S3 "
                "refused): run `doiflow holds verify` to see them, `--fix` to restore holds",
            )
        )
    found.extend(_doi_problems(checks, settings))
    silent = checks["seconds_since_a_delivery_finished"]
    if checks["enqueued_intents"] and (silent is None or silent > settings.health_silent_seconds):
        since = "ever" if silent is None else f"for {silent:.0f} s"
        found.append(
            Problem(
                "workers_silent",
                f"{_count(checks['enqueued_intents'])} intent(s) are enqueued but no delivery "
                f"has finished {since}: are the workers running?",
            )
        )
    clock = checks.get("seconds_since_a_clock_tick")
    if clock is not None and clock > settings.health_silent_seconds:
        found.append(
            Problem(
                "clock_silent",
                f"no clock has ticked for {clock:.0f} s: nothing is pruned, snapshotted or "
                "checked on schedule; is `doiflow clock` running?",
            )
        )
    datacite = checks.get("datacite")
    if datacite is not None and datacite not in ("ok", "not configured"):
        found.append(
            Problem(
                "datacite",
                f"DataCite did not accept an authenticated GET: {datacite}; check "
                "DATACITE_API_URL, DATACITE_USER and DATACITE_PASSWORD (docs/operations.md)",
            )
        )
    return found


def _doi_problems(checks: dict[str, Any], settings: Settings) -> list[Problem]:
    """DOIs that are not where the archive wants them, and DOIs that should exist."""
    found = []
    if checks.get("dois_behind_target"):
        found.append(
            Problem(
                "dois_behind_target",
                f"{_count(checks['dois_behind_target'])} DOI(s) have been short of their target "
                f"for longer than {settings.health_stuck_seconds:.0f} s: look at their intents "
                "(throttling, failed holds, no worker); `doiflow doi remediate` re-queues "
                "any that nothing is moving",
            )
        )
    if settings.datacite_configured:
        for check, what in (
            ("public_datasets_without_concept_doi", "public dataset(s) have no concept DOI"),
            ("versions_without_doi", "published version(s) of public datasets have no DOI"),
        ):
            if checks.get(check):
                found.append(
                    Problem(check, f"{_count(checks[check])} {what}: run `doiflow doi remediate`")
                )
    if settings.doi_publish and checks.get("drafts_waiting_for_publish"):
        found.append(
            Problem(
                "drafts_waiting_for_publish",
                f"{_count(checks['drafts_waiting_for_publish'])} version DOI(s) are drafts made "
                "while DOI_PUBLISH was false: run `doiflow doi remediate` to make them findable",
            )
        )
    return found


def _count(value: int) -> str:
    return f"{COUNT_LIMIT}+" if value > COUNT_LIMIT else str(value)
