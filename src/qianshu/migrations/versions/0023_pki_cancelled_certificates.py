"""pki_cancelled_certificates: when a cancelled person's certificate record lost its DER

After an account is cancelled, the person's certificates keep only what the CA needs without
personal data (serial, fingerprint, issuer, validity, revocation); `der` becomes empty and
`redacted_at` says when. The DER itself is kept sealed under the person's retention key.

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from qianshu.db import UtcDateTime

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pki_certificate") as batch:
        batch.add_column(sa.Column("redacted_at", UtcDateTime(), nullable=True))


def downgrade() -> None:
    # Redacted rows stay without their DER: it is only in the sealed retention record now.
    with op.batch_alter_table("pki_certificate") as batch:
        batch.drop_column("redacted_at")
