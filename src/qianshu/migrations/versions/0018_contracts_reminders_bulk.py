"""contracts: reminder settings and log, bulk sends

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from qianshu.db import UtcDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contracts_reminder_policy",
        sa.Column("contract_id", sa.String(32), nullable=False),
        sa.Column("every_days", sa.Integer(), nullable=False),
        sa.Column("before_deadline_hours", sa.Integer(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("contract_id", name=op.f("pk_contracts_reminder_policy")),
    )
    op.create_table(
        "contracts_reminder",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("contract_id", sa.String(32), nullable=False),
        sa.Column("recipient_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("sent_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts_reminder")),
    )
    op.create_index(op.f("ix_contracts_reminder_contract_id"), "contracts_reminder", ["contract_id"])
    op.create_index(op.f("ix_contracts_reminder_recipient_id"), "contracts_reminder", ["recipient_id"])
    op.create_table(
        "contracts_bulk_send",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("owner_id", sa.String(32), nullable=False),
        sa.Column("template_id", sa.String(32), nullable=False),
        sa.Column("csv_blob_id", sa.String(32), nullable=True),
        sa.Column("deadline", UtcDateTime(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("succeeded", sa.Integer(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts_bulk_send")),
    )
    op.create_index(op.f("ix_contracts_bulk_send_owner_id"), "contracts_bulk_send", ["owner_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_contracts_bulk_send_owner_id"), table_name="contracts_bulk_send")
    op.drop_table("contracts_bulk_send")
    op.drop_index(op.f("ix_contracts_reminder_recipient_id"), table_name="contracts_reminder")
    op.drop_index(op.f("ix_contracts_reminder_contract_id"), table_name="contracts_reminder")
    op.drop_table("contracts_reminder")
    op.drop_table("contracts_reminder_policy")
