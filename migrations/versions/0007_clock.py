"""the clock: the last slot queued per schedule

- `clock_schedules`: one row per schedule the clock has queued, holding the start of the
  last slot it queued (a guarded UPDATE moves it on), so a schedule missed while no
  clock ran is queued once when a clock returns.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-01 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clock_schedules",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("last_slot_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_intent_id", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_clock_schedules")),
    )


def downgrade() -> None:
    op.drop_table("clock_schedules")
