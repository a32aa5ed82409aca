"""the admin page: accounts, the audit log, dashboard snapshots, outbox browser indexes

- `admin_users`: email, Argon2 password hash, role (viewer/operator/admin), and a
  session version that ends old sessions when bumped;
- `dashboard_snapshots`: the dashboard's grouped counts, refreshed at most every
  ADMIN_SNAPSHOT_SECONDS so no page view counts a large table;
- outbox indexes for the browser: newest first per status and per topic, the rows that
  have an error, and (Postgres only) a GIN index for `payload @> '{...}'`.

The outbox indexes are built inside the migration's transaction (migrations/env.py
opens it itself, which rules out CREATE INDEX CONCURRENTLY), so writes to the outbox
wait while each builds: about a second per index per million rows.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.db

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
ERRORED = sa.text("last_error IS NOT NULL")


def upgrade() -> None:
    _create_admin_users()
    op.create_table(
        "dashboard_snapshots",
        sa.Column("id", ID, nullable=False),
        sa.Column("taken_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("data", JSON_DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_snapshots")),
    )
    op.create_index("ix_dashboard_snapshots_taken_at", "dashboard_snapshots", ["taken_at"])
    _create_outbox_indexes()


def _create_admin_users() -> None:
    op.create_table(
        "admin_users",
        sa.Column("id", ID, nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("disabled_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("session_version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "role IN ('viewer', 'operator', 'admin')", name=op.f("ck_admin_users_role")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_users")),
        sa.UniqueConstraint("email", name=op.f("uq_admin_users_email")),
    )


def _create_outbox_indexes() -> None:
    op.create_index("ix_outbox_status_id", "outbox", ["status", "id"])
    op.create_index("ix_outbox_topic_id", "outbox", ["topic", "id"])
    op.create_index(
        "ix_outbox_errored", "outbox", ["id"], postgresql_where=ERRORED, sqlite_where=ERRORED
    )
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_outbox_payload",
            "outbox",
            ["payload"],
            postgresql_using="gin",
            postgresql_ops={"payload": "jsonb_path_ops"},
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_outbox_payload", table_name="outbox")
    op.drop_index("ix_outbox_errored", table_name="outbox")
    op.drop_index("ix_outbox_topic_id", table_name="outbox")
    op.drop_index("ix_outbox_status_id", table_name="outbox")
    op.drop_index("ix_dashboard_snapshots_taken_at", table_name="dashboard_snapshots")
    op.drop_table("dashboard_snapshots")
    op.drop_table("admin_users")
