"""legal holds: one per published blob version, with its history; the audit log

- `legal_holds` (state pending/on/released/failed, target on/off, the backdoor's
  release reason) and `hold_transitions`, like `dois` and `doi_transitions`;
- `blobs`: when S3 last showed the recorded size and sha256 (`verified_at`), the last
  check's finding, and the moment a delete was sent (`deleted_at`);
- `job_steps.problems`: the blobs a verification found wrong, for people to act on;
- `audit_log`: who did what, when and why (the hold backdoor writes it).

Blobs published before S3 was configured get their holds from `doiflow holds backfill`.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 08:37:09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=300), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("data", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_action_at", "audit_log", ["action", "at"])
    op.create_index("ix_audit_log_target", "audit_log", ["target"])
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("blob_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=8), nullable=False),
        sa.Column("release_reason", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "state IN ('pending', 'on', 'released', 'failed')", name=op.f("ck_legal_holds_state")
        ),
        sa.CheckConstraint("target IN ('on', 'off')", name=op.f("ck_legal_holds_target")),
        sa.ForeignKeyConstraint(
            ["blob_id"], ["blobs.id"], name=op.f("fk_legal_holds_blob_id_blobs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_holds")),
        sa.UniqueConstraint("blob_id", name=op.f("uq_legal_holds_blob_id")),
    )
    op.create_index("ix_legal_holds_state", "legal_holds", ["state"], unique=False)
    op.create_table(
        "hold_transitions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("hold_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=False),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("intent_id", sa.BigInteger(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["hold_id"], ["legal_holds.id"], name=op.f("fk_hold_transitions_hold_id_legal_holds")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hold_transitions")),
    )
    op.create_index(
        op.f("ix_hold_transitions_hold_id"), "hold_transitions", ["hold_id"], unique=False
    )
    op.add_column(
        "blobs", sa.Column("verified_at", app.db.UTCDateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "blobs", sa.Column("checked_at", app.db.UTCDateTime(timezone=True), nullable=True)
    )
    op.add_column("blobs", sa.Column("check_problem", sa.Text(), nullable=True))
    op.add_column(
        "blobs", sa.Column("deleted_at", app.db.UTCDateTime(timezone=True), nullable=True)
    )
    # Existing steps found nothing wrong: an empty list (the model's default too).
    op.add_column("job_steps", sa.Column("problems", JSON, nullable=False, server_default="[]"))


def downgrade() -> None:
    op.drop_column("job_steps", "problems")
    op.drop_column("blobs", "deleted_at")
    op.drop_column("blobs", "check_problem")
    op.drop_column("blobs", "checked_at")
    op.drop_column("blobs", "verified_at")
    op.drop_index(op.f("ix_hold_transitions_hold_id"), table_name="hold_transitions")
    op.drop_table("hold_transitions")
    op.drop_index("ix_legal_holds_state", table_name="legal_holds")
    op.drop_table("legal_holds")
    op.drop_index("ix_audit_log_target", table_name="audit_log")
    op.drop_index("ix_audit_log_action_at", table_name="audit_log")
    op.drop_table("audit_log")
