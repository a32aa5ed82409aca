"""the generic intent runner: a way out of failed, an event log, DOIs that remember doubt

- outbox status gains `superseded` (a re-drive replaced a failed intent) and
  `discarded` (an operator dropped it), so health reports what needs a person now;
- `intent_events`: deliveries, remote calls and decisions, append-only;
- `dois.confirmed_url` (a hidden DOI is re-pointed when it differs) and `dois.in_doubt_since`
  (a write may have been applied without an answer: look before deciding);
- `process_beats`: long-running processes (the relay) saying they are alive.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OLD_STATUSES = "status IN ('pending', 'enqueued', 'done', 'failed')"
NEW_STATUSES = "status IN ('pending', 'enqueued', 'done', 'failed', 'superseded', 'discarded')"


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint(op.f("ck_outbox_status"), type_="check")
        batch.create_check_constraint("status", NEW_STATUSES)
    # Plain ADD COLUMN: SQLite supports it, and a batch copy of `dois` would drop nothing
    # but costs a table rebuild.
    op.add_column("dois", sa.Column("confirmed_url", sa.String(length=2048), nullable=True))
    op.add_column(
        "dois", sa.Column("in_doubt_since", app.db.UTCDateTime(timezone=True), nullable=True)
    )
    for name, columns, status in (
        ("ix_outbox_enqueued_key", ["key"], "enqueued"),
        ("ix_outbox_pending_key", ["key", "id"], "pending"),
    ):
        where = sa.text(f"status = '{status}'")
        op.create_index(name, "outbox", columns, postgresql_where=where, sqlite_where=where)
    op.create_table(
        "intent_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("intent_id", sa.BigInteger(), nullable=False),
        sa.Column("at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intent_events")),
    )
    op.create_index("ix_intent_events_intent", "intent_events", ["intent_id", "id"])
    op.create_index("ix_intent_events_kind_at", "intent_events", ["kind", "at"])
    op.create_table(
        "process_beats",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("started_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("beat_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_process_beats")),
    )
    op.create_index("ix_process_beats_kind", "process_beats", ["kind"])


def downgrade() -> None:
    op.drop_index("ix_outbox_pending_key", table_name="outbox")
    op.drop_index("ix_outbox_enqueued_key", table_name="outbox")
    op.drop_index("ix_process_beats_kind", table_name="process_beats")
    op.drop_table("process_beats")
    op.drop_index("ix_intent_events_kind_at", table_name="intent_events")
    op.drop_index("ix_intent_events_intent", table_name="intent_events")
    op.drop_table("intent_events")
    op.drop_column("dois", "in_doubt_since")
    op.drop_column("dois", "confirmed_url")
    op.execute("UPDATE outbox SET status = 'failed' WHERE status IN ('superseded', 'discarded')")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint(op.f("ck_outbox_status"), type_="check")
        batch.create_check_constraint("status", OLD_STATUSES)
