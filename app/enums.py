"""Status vocabularies: upper-case members, lower-case stored values."""

from __future__ import annotations

from enum import StrEnum


class DoiState(StrEnum):
    """DataCite's states plus ours (pending, failed, deleted)."""

    PENDING = "pending"
    DRAFT = "draft"
    FINDABLE = "findable"
    REGISTERED = "registered"  # DataCite's word for hidden
    FAILED = "failed"
    DELETED = "deleted"


class DoiTarget(StrEnum):
    """The state the archive wants a DOI to reach."""

    DRAFT = "draft"
    FINDABLE = "findable"
    REGISTERED = "registered"
    DELETED = "deleted"


class DoiKind(StrEnum):
    CONCEPT = "concept"
    VERSION = "version"


class IntentStatus(StrEnum):
    PENDING = "pending"
    ENQUEUED = "enqueued"
    DONE = "done"
    FAILED = "failed"
    # A failed intent's way out: a re-drive replaced it, or an operator dropped it.
    SUPERSEDED = "superseded"
    DISCARDED = "discarded"


class JobStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    FINISHED = "finished"
    FAILED = "failed"


class StepStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


class HoldState(StrEnum):
    """An S3 legal hold on one published blob version, as S3 last confirmed it."""

    PENDING = "pending"  # wanted on (or off), S3 has not confirmed it yet
    ON = "on"
    RELEASED = "released"
    FAILED = "failed"  # needs a person or a re-drive


class HoldTarget(StrEnum):
    """What the archive wants S3 to hold."""

    ON = "on"
    OFF = "off"


class AdminRole(StrEnum):
    """Who may do what on the admin page; each role includes the ones before it."""

    VIEWER = "viewer"  # reads every page
    OPERATOR = "operator"  # also retries and discards
    ADMIN = "admin"  # also releases holds, manages tokens and users

    def includes(self, other: AdminRole) -> bool:
        """True when this role may do what `other` may."""
        order = list(AdminRole)
        return order.index(self) >= order.index(other)


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"
    OPERATOR = "operator"
    ADMIN = "admin"  # the legal-hold backdoor (and the admin page's admin role)


def check_in(column: str, enum: type[StrEnum]) -> str:
    """SQL for a CHECK constraint keeping `column` inside `enum`'s values."""
    values = ", ".join(f"'{member.value}'" for member in enum)
    return f"{column} IN ({values})"
