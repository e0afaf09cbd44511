"""contracts_integration: when a contract's retention period ended and it was anonymised

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from qianshu.db import UtcDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contracts_contract") as batch:
        batch.add_column(sa.Column("anonymised_at", UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contracts_contract") as batch:
        batch.drop_column("anonymised_at")
