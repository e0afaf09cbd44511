"""core: rate-limit counters and the durable job queue

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from qianshu.db import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_hit",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("window_start", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name=op.f("pk_rate_limit_hit")),
    )
    op.create_index(op.f("ix_rate_limit_hit_expires_at"), "rate_limit_hit", ["expires_at"])
    op.create_table(
        "job",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(80), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", UtcDateTime(), nullable=False),
        sa.Column("locked_until", UtcDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("dedupe_key", sa.String(120), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_job_dedupe_key")),
    )
    op.create_index(op.f("ix_job_kind"), "job", ["kind"])
    op.create_index(op.f("ix_job_status"), "job", ["status"])
    op.create_index(op.f("ix_job_run_after"), "job", ["run_after"])


def downgrade() -> None:
    op.drop_table("job")
    op.drop_table("rate_limit_hit")
