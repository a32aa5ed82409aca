"""the stash: DataCite's record of a DOI, taken before every DELETE or hide

- `stashes`: one row per destructive intent (unique `intent_id`), with the attributes
  as DataCite returned them (JSON text plus its SHA-256, so a damaged row is
  recognised), the remote state and URL, doiflow's metadata hash, the dataset row's
  creation time (an id reused since is refused by a restore), taken_at and expires_at
  (`STASH_RETENTION_SECONDS`; pruned by `doiflow stash prune` and the clock).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = app.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "stashes",
        sa.Column("id", ID, nullable=False),
        sa.Column("doi_id", ID, nullable=False),
        sa.Column("intent_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("found", sa.Boolean(), nullable=False),
        sa.Column("remote_state", sa.String(length=16), nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("content_sha256", sa.String(length=64), nullable=True),
        sa.Column("metadata_hash", sa.String(length=64), nullable=True),
        sa.Column("dataset_created_at", UTC, nullable=False),
        sa.Column("taken_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.CheckConstraint("action IN ('delete', 'hide')", name=op.f("ck_stashes_action")),
        sa.ForeignKeyConstraint(["doi_id"], ["dois.id"], name=op.f("fk_stashes_doi_id_dois")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stashes")),
        sa.UniqueConstraint("intent_id", name=op.f("uq_stashes_intent_id")),
    )
    op.create_index("ix_stashes_doi_taken", "stashes", ["doi_id", "taken_at"])
    op.create_index("ix_stashes_expires_at", "stashes", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_stashes_expires_at", table_name="stashes")
    op.drop_index("ix_stashes_doi_taken", table_name="stashes")
    op.drop_table("stashes")
