"""ORM models: datasets and versions, their DOIs and legal holds, the outbox, tokens, jobs,
and the admin page's accounts, audit log and dashboard snapshots."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, JSONDocument, UTCDateTime, utcnow
from app.enums import (
    AdminRole,
    DoiKind,
    DoiState,
    DoiTarget,
    HoldState,
    HoldTarget,
    IntentStatus,
    JobStatus,
    StepStatus,
    check_in,
)

# Partial index predicates, written as the health checks write their queries.
BEHIND = "state <> target AND state NOT IN ('failed', 'deleted')"
DRAFT_VERSIONS = "kind = 'version' AND target = 'draft' AND state NOT IN ('failed', 'deleted')"

# SQLite only auto-increments INTEGER PRIMARY KEY; Postgres gets a bigint.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Dataset(Base):
    __tablename__ = "datasets"
    # DOIs are case-insensitive, so two ids differing only in case would share one DOI.
    __table_args__ = (Index("uq_datasets_lower_id", func.lower(text("id")), unique=True),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    embargoed: Mapped[bool] = mapped_column(Boolean, default=False)
    draft_metadata: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    versions: Mapped[list[Version]] = relationship(
        back_populates="dataset", order_by="Version.id", lazy="selectin"
    )
    # Read-only: DOIs are written as rows of their own. Loaded when first read, or set
    # by the code that creates the concept, so the answer to a create reads nothing back.
    concept_doi: Mapped[Doi | None] = relationship(
        primaryjoin="and_(Dataset.id == foreign(Doi.dataset_id), Doi.kind == 'concept')",
        viewonly=True,
        uselist=False,
        lazy="select",
    )


version_blobs = Table(
    "version_blobs",
    Base.metadata,
    Column("version_id", ForeignKey("versions.id", ondelete="CASCADE"), primary_key=True),
    Column("blob_id", ForeignKey("blobs.id", ondelete="RESTRICT"), primary_key=True),
)


class Version(Base):
    __tablename__ = "versions"
    __table_args__ = (
        UniqueConstraint("dataset_id", "name"),
        Index(
            "uq_versions_dataset_lower_name", "dataset_id", func.lower(text("name")), unique=True
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    metadata_snapshot: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    dataset: Mapped[Dataset] = relationship(back_populates="versions")
    # Loaded when read: a DOI's payload or a job's counts load the Version, and a
    # version of 2,000 blobs would bring 2,000 blobs, holds and hold histories along.
    blobs: Mapped[list[Blob]] = relationship(secondary=version_blobs, lazy="select")


class Blob(Base):
    """One S3 object version a published dataset version references."""

    __tablename__ = "blobs"
    __table_args__ = (UniqueConstraint("key", "version_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(1024))
    version_id: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When S3 last showed this version with the recorded size and sha256.
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last `doiflow holds verify` (or a refused delete): None when all was well.
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    check_problem: Mapped[str | None] = mapped_column(Text)
    # Set before the S3 delete is sent; a blob being deleted can no longer be published.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    hold: Mapped[LegalHold | None] = relationship(back_populates="blob", lazy="selectin")


class LegalHold(Base):
    """The S3 legal hold of one published blob version; `state` changes only through HoldMachine.

    One per blob version, however many versions reference it: held once, released only
    when no published version does.
    """

    __tablename__ = "legal_holds"
    __table_args__ = (
        CheckConstraint(check_in("state", HoldState), name="state"),
        CheckConstraint(check_in("target", HoldTarget), name="target"),
        Index("ix_legal_holds_state", "state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    blob_id: Mapped[int] = mapped_column(ForeignKey("blobs.id"), unique=True)
    state: Mapped[str] = mapped_column(String(16), default=HoldState.PENDING.value)
    target: Mapped[str] = mapped_column(String(8), default=HoldTarget.ON.value)
    # Set by the backdoor (`doiflow holds release`): verify and backfill leave it off.
    release_reason: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    row_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": row_version}  # noqa: RUF012

    blob: Mapped[Blob] = relationship(back_populates="hold")
    history: Mapped[list[HoldTransition]] = relationship(
        back_populates="hold", order_by="HoldTransition.id", lazy="selectin"
    )


class HoldTransition(Base):
    """One recorded state change of a legal hold, with its cause."""

    __tablename__ = "hold_transitions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    hold_id: Mapped[int] = mapped_column(ForeignKey("legal_holds.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    event: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    intent_id: Mapped[int | None] = mapped_column(BigInteger)
    detail: Mapped[str | None] = mapped_column(Text)

    hold: Mapped[LegalHold] = relationship(back_populates="history")


class Doi(Base):
    """One DataCite DOI and where it stands; `state` changes only through DoiMachine."""

    __tablename__ = "dois"
    __table_args__ = (
        CheckConstraint(check_in("state", DoiState), name="state"),
        CheckConstraint(check_in("target", DoiTarget), name="target"),
        CheckConstraint(check_in("kind", DoiKind), name="kind"),
        Index("ix_dois_state", "state"),
        # Health: DOIs short of their target, and version DOIs kept drafts (DOI_PUBLISH).
        Index(
            "ix_dois_behind",
            "id",
            postgresql_where=text(BEHIND),
            sqlite_where=text(BEHIND),
        ),
        Index(
            "ix_dois_draft_versions",
            "id",
            postgresql_where=text(DRAFT_VERSIONS),
            sqlite_where=text(DRAFT_VERSIONS),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    doi: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), index=True)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("versions.id"), unique=True)
    state: Mapped[str] = mapped_column(String(16), default=DoiState.PENDING.value)
    target: Mapped[str] = mapped_column(String(16), default=DoiTarget.DRAFT.value)
    confirmed_hash: Mapped[str | None] = mapped_column(String(64))
    # The URL DataCite last confirmed: a hidden DOI is re-pointed when it differs.
    confirmed_url: Mapped[str | None] = mapped_column(String(2048))
    # Set when a write is about to be sent (and again when its answer is given up on),
    # cleared when DataCite's answer is known: after a lost answer the next delivery
    # looks (GET) before it decides, once the write can no longer land
    # (DATACITE_WRITE_GRACE_SECONDS later).
    in_doubt_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Optimistic lock: two sessions racing the same transition cannot both win.
    row_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": row_version}  # noqa: RUF012

    dataset: Mapped[Dataset] = relationship()
    version: Mapped[Version | None] = relationship()
    # Loaded when read (the API's DOI view, re-drive decisions), not with every DOI row.
    history: Mapped[list[DoiTransition]] = relationship(
        back_populates="doi", order_by="DoiTransition.id", lazy="select"
    )

    @property
    def in_doubt(self) -> bool:
        """A write may have been applied without its answer reaching us."""
        return self.in_doubt_since is not None

    @property
    def needs_look(self) -> bool:
        """DataCite may hold it in a state we do not know (a re-drive sets this too)."""
        return self.in_doubt


class Stash(Base):
    """DataCite's record of a DOI, committed before a DELETE or hide: what a restore needs.

    One per destructive intent (a crash between the stash and the call re-uses it).
    `content` is the JSON text of the attributes as DataCite returned them, kept as text
    with its SHA-256 so a damaged row is recognised (and treated as absent), never
    trusted; `found` is false when the look answered 404: nothing remote to keep.
    """

    __tablename__ = "stashes"
    __table_args__ = (
        CheckConstraint("action IN ('delete', 'hide')", name="action"),
        Index("ix_stashes_doi_taken", "doi_id", "taken_at"),
        Index("ix_stashes_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    doi_id: Mapped[int] = mapped_column(ForeignKey("dois.id"))
    intent_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    action: Mapped[str] = mapped_column(String(16))
    found: Mapped[bool] = mapped_column(Boolean)
    remote_state: Mapped[str | None] = mapped_column(String(16))
    url: Mapped[str | None] = mapped_column(String(2048))
    content: Mapped[str | None] = mapped_column(Text)
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    # doiflow's fingerprint of the metadata DataCite had confirmed when the stash was taken.
    metadata_hash: Mapped[str | None] = mapped_column(String(64))
    # The dataset row the DOI belonged to then: a restore refuses a dataset id reused since.
    dataset_created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DoiTransition(Base):
    """One recorded state change of a DOI, with its cause."""

    __tablename__ = "doi_transitions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    doi_id: Mapped[int] = mapped_column(ForeignKey("dois.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    event: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    intent_id: Mapped[int | None] = mapped_column(BigInteger)
    http_status: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(Text)

    doi: Mapped[Doi] = relationship(back_populates="history")


class Intent(Base):
    """An outbox row: work to do, written in the same transaction as its cause."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(check_in("status", IntentStatus), name="status"),
        # The relay's claim is an index scan over due pending rows only.
        Index(
            "ix_outbox_due",
            "available_at",
            "id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_outbox_key_status", "key", "status"),
        # The claim's per-key probes: is this key in flight, is an older intent waiting?
        # Partial indexes on the key make each probe a key lookup whatever the statistics.
        Index(
            "ix_outbox_enqueued_key",
            "key",
            postgresql_where=text("status = 'enqueued'"),
            sqlite_where=text("status = 'enqueued'"),
        ),
        Index(
            "ix_outbox_pending_key",
            "key",
            "id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index(
            "ix_outbox_lease",
            "lease_expires_at",
            postgresql_where=text("status = 'enqueued'"),
            sqlite_where=text("status = 'enqueued'"),
        ),
        Index("ix_outbox_status_updated", "status", "updated_at"),
        # The admin's outbox browser: newest first within a status or a topic (keyset on id).
        Index("ix_outbox_status_id", "status", "id"),
        Index("ix_outbox_topic_id", "topic", "id"),
        # Error-text search reads only the rows that have an error (done rows have none).
        Index(
            "ix_outbox_errored",
            "id",
            postgresql_where=text("last_error IS NOT NULL"),
            sqlite_where=text("last_error IS NOT NULL"),
        ),
        # Payload search (`payload @> '{...}'`); jsonb only, so Postgres only.
        Index(
            "ix_outbox_payload",
            "payload",
            postgresql_using="gin",
            postgresql_ops={"payload": "jsonb_path_ops"},
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    topic: Mapped[str] = mapped_column(String(64))
    queue: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=IntentStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_token: Mapped[str | None] = mapped_column(String(36))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class IntentEvent(Base):
    """One thing that happened to an intent: a delivery, a remote call, a decision.

    Append-only, pruned with the outbox; the admin page joins these into a timeline.
    """

    __tablename__ = "intent_events"
    __table_args__ = (
        Index("ix_intent_events_intent", "intent_id", "id"),
        Index("ix_intent_events_kind_at", "kind", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    intent_id: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)


class ProcessBeat(Base):
    """A long-running process saying it is alive and moving (the relay watchdog reads it)."""

    __tablename__ = "process_beats"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ClockSchedule(Base):
    """The last slot the clock queued for each schedule, so a missed one runs once."""

    __tablename__ = "clock_schedules"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_slot_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_intent_id: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(Base):
    """A bearer token for the archive's backend; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Job(Base):
    """A publish run, reported step by step."""

    __tablename__ = "jobs"
    __table_args__ = (CheckConstraint(check_in("status", JobStatus), name="status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), default="publish")
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), index=True)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("versions.id"))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.IN_PROGRESS.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    steps: Mapped[list[JobStep]] = relationship(
        back_populates="job", order_by="JobStep.position", lazy="selectin"
    )


class JobStep(Base):
    __tablename__ = "job_steps"
    __table_args__ = (
        CheckConstraint(check_in("status", StepStatus), name="status"),
        UniqueConstraint("job_id", "name"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    name: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=StepStatus.PENDING.value)
    doi_id: Mapped[int | None] = mapped_column(ForeignKey("dois.id"), index=True)
    done_count: Mapped[int] = mapped_column(Integer, default=0)
    total_count: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    # Per-blob findings (verify_blobs): [{"key", "version_id", "problem"}].
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    job: Mapped[Job] = relationship(back_populates="steps")


class AdminUser(Base):
    """A person who logs in to the admin page; only an Argon2 hash of the password is kept."""

    __tablename__ = "admin_users"
    __table_args__ = (CheckConstraint(check_in("role", AdminRole), name="role"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lowercase
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Part of the session's user id: bumping it (new password, role, disabled) ends every
    # session signed before, though their cookies are still validly signed.
    session_version: Mapped[int] = mapped_column(Integer, default=1)


class AuditLog(Base):
    """Who did what, when, to what, and why: every admin, operator and CLI action."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_action_at", "action", "at"),
        Index("ix_audit_log_target", "target"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(300))  # "admin:EMAIL", "token:NAME", "cli:USER"
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(300))
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)


class DashboardSnapshot(Base):
    """The admin dashboard's counts, taken at most every ADMIN_SNAPSHOT_SECONDS."""

    __tablename__ = "dashboard_snapshots"
    __table_args__ = (Index("ix_dashboard_snapshots_taken_at", "taken_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
