"""storage: blob index with per-file data keys sealed by the vault

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from qianshu.db import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "storage_blob",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("owner_id", sa.String(40), nullable=False),
        sa.Column("media_type", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("stored_size", sa.BigInteger(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_storage_blob")),
    )
    op.create_index(op.f("ix_storage_blob_owner_id"), "storage_blob", ["owner_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_storage_blob_owner_id"), table_name="storage_blob")
    op.drop_table("storage_blob")
