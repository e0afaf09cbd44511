"""contracts_idempotency_contract_required: an idempotency record always names its contract

The record is written with the id of the contract it creates, in the contract's own transaction,
so `contract_id` is never empty. A row without one (none is expected: it could only be left by a
version that filled the column in a second statement) could answer nothing but "in use" until the
24-hour purge; it is deleted before the column becomes NOT NULL.

Revision ID: 0026
Revises: 0025
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM contracts_idempotency WHERE contract_id IS NULL")
    with op.batch_alter_table("contracts_idempotency") as batch:
        batch.alter_column("contract_id", existing_type=sa.String(32), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("contracts_idempotency") as batch:
        batch.alter_column("contract_id", existing_type=sa.String(32), nullable=True)
