"""evidence: transparency log entries, hash tiles, checkpoints and the sequencer lease

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from qianshu.db import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tlog_entry",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("entry_id", sa.String(32), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("entry_type", sa.String(40), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("sequenced_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tlog_entry")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_tlog_entry_entry_id")),
        sa.UniqueConstraint("seq", name=op.f("uq_tlog_entry_seq")),
    )
    op.create_index(op.f("ix_tlog_entry_leaf_hash"), "tlog_entry", ["leaf_hash"])
    op.create_table(
        "tlog_tile",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("tile_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("hashes", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "tile_index", name=op.f("pk_tlog_tile")),
    )
    op.create_table(
        "tlog_checkpoint",
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tree_size", name=op.f("pk_tlog_checkpoint")),
    )
    op.create_table(
        "tlog_lease",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("holder", sa.String(64), nullable=True),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=True),
        sa.Column("renewed_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_tlog_lease")),
    )


def downgrade() -> None:
    op.drop_table("tlog_lease")
    op.drop_table("tlog_checkpoint")
    op.drop_table("tlog_tile")
    op.drop_index(op.f("ix_tlog_entry_leaf_hash"), table_name="tlog_entry")
    op.drop_table("tlog_entry")
