"""the clock: the last slot queued per schedule

- `clock_schedules`: one row per schedule the clock has queued, holding the start of the
  last slot it queued (a guarded UPDATE moves it on), so a schedule missed while no
  clock ran is queued once when a clock returns;
- two partial indexes on `dois` for the health checks: DOIs short of their target, and
  version DOIs kept drafts (both small sets normally), so `/api/health` reads a few
  index entries instead of every DOI. Built inside the migration's transaction: writes
  to `dois` wait while they build (about a second per million DOIs).

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-01 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BEHIND = sa.text("state <> target AND state NOT IN ('failed', 'deleted')")
DRAFT_VERSIONS = sa.text(
    "kind = 'version' AND target = 'draft' AND state NOT IN ('failed', 'deleted')"
)


def upgrade() -> None:
    op.create_table(
        "clock_schedules",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("last_slot_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_intent_id", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_clock_schedules")),
    )

    op.create_index("ix_dois_behind", "dois", ["id"], postgresql_where=BEHIND, sqlite_where=BEHIND)
    op.create_index(
        "ix_dois_draft_versions",
        "dois",
        ["id"],
        postgresql_where=DRAFT_VERSIONS,
        sqlite_where=DRAFT_VERSIONS,
    )


def downgrade() -> None:
    op.drop_index("ix_dois_draft_versions", table_name="dois")
    op.drop_index("ix_dois_behind", table_name="dois")
    op.drop_table("clock_schedules")
