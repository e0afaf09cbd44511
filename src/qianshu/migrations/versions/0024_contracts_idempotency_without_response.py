"""contracts_idempotency_without_response: idempotency records keep no copy of the answer

An `Idempotency-Key` record kept the whole created contract as JSON (its clear title, which may
name a person). It now keeps only the contract id, the request's hash and whether creation
finished; a replay rebuilds the answer from the contract. The records are purged after 24 hours,
found by `created_at`.

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contracts_idempotency") as batch:
        batch.drop_column("response")
        batch.create_index(op.f("ix_contracts_idempotency_created_at"), ["created_at"])


def downgrade() -> None:
    # The dropped answers are not restored: a replay after downgrade finds none and is refused as in use.
    with op.batch_alter_table("contracts_idempotency") as batch:
        batch.drop_index(op.f("ix_contracts_idempotency_created_at"))
        batch.add_column(sa.Column("response", sa.JSON(), nullable=True))
