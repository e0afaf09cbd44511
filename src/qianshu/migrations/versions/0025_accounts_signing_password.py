"""accounts_signing_password: a person's signing password (签署密码) that confirms intent (C4)

Two nullable columns on `accounts_user`: the argon2id hash and when it was set.

Revision ID: 0025
Revises: 0024
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from qianshu.db import UtcDateTime

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts_user") as batch:
        batch.add_column(sa.Column("signing_password_hash", sa.String(255), nullable=True))
        batch.add_column(sa.Column("signing_password_set_at", UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts_user") as batch:
        batch.drop_column("signing_password_set_at")
        batch.drop_column("signing_password_hash")
