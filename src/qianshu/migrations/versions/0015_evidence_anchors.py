"""evidence: audit-chain heads anchored in the transparency log (audit_anchor)

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from qianshu.db import UtcDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_anchor",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("stream", sa.String(80), nullable=False),
        sa.Column("stream_hash", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("log_entry_id", sa.String(32), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_anchor")),
        sa.UniqueConstraint("stream", "seq", name="uq_audit_anchor_stream_seq"),
        sa.UniqueConstraint("log_entry_id", name=op.f("uq_audit_anchor_log_entry_id")),
    )
    op.create_index(op.f("ix_audit_anchor_stream"), "audit_anchor", ["stream"])


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_anchor_stream"), table_name="audit_anchor")
    op.drop_table("audit_anchor")
