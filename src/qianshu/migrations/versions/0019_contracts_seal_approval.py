"""contracts: seal-use approval requests (用印审批)

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from qianshu.db import UtcDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contracts_seal_approval",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("contract_id", sa.String(32), nullable=False),
        sa.Column("recipient_id", sa.String(32), nullable=False),
        sa.Column("org_id", sa.String(32), nullable=False),
        sa.Column("seal_id", sa.String(32), nullable=False),
        sa.Column("agent_id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("values_enc", sa.LargeBinary(), nullable=False),
        sa.Column("cross_page", sa.Boolean(), nullable=False),
        sa.Column("requested_at", UtcDateTime(), nullable=False),
        sa.Column("decided_by", sa.String(32), nullable=True),
        sa.Column("decided_at", UtcDateTime(), nullable=True),
        sa.Column("reason_enc", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts_seal_approval")),
    )
    for column in ("contract_id", "recipient_id", "org_id", "status"):
        op.create_index(op.f(f"ix_contracts_seal_approval_{column}"), "contracts_seal_approval", [column])


def downgrade() -> None:
    for column in ("contract_id", "recipient_id", "org_id", "status"):
        op.drop_index(op.f(f"ix_contracts_seal_approval_{column}"), table_name="contracts_seal_approval")
    op.drop_table("contracts_seal_approval")
