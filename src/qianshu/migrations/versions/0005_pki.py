"""pki: certificates, CRLs and time-stamp serials

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from qianshu.db import UtcDateTime

revision = "0005"
# TEMPORARY while 0004 (notify) is being written in parallel: chain onto 0003 until it exists.
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pki_certificate",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(40), nullable=True),
        sa.Column("issuer_id", sa.String(32), nullable=True),
        sa.Column("serial", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("key_label", sa.String(100), nullable=False),
        sa.Column("key_algorithm", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("not_before", UtcDateTime(), nullable=False),
        sa.Column("not_after", UtcDateTime(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("superseded_by", sa.String(32), nullable=True),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
        sa.Column("revocation_reason", sa.String(32), nullable=True),
        sa.Column("retain_until", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pki_certificate")),
        sa.UniqueConstraint("serial", name=op.f("uq_pki_certificate_serial")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_pki_certificate_fingerprint")),
    )
    op.create_index(op.f("ix_pki_certificate_kind"), "pki_certificate", ["kind"])
    op.create_index(op.f("ix_pki_certificate_subject_id"), "pki_certificate", ["subject_id"])
    op.create_index(op.f("ix_pki_certificate_issuer_id"), "pki_certificate", ["issuer_id"])
    op.create_index(op.f("ix_pki_certificate_status"), "pki_certificate", ["status"])
    op.create_index(op.f("ix_pki_certificate_retain_until"), "pki_certificate", ["retain_until"])

    op.create_table(
        "pki_crl",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("issuer_id", sa.String(32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("this_update", UtcDateTime(), nullable=False),
        sa.Column("next_update", UtcDateTime(), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pki_crl")),
        sa.UniqueConstraint("issuer_id", "number", name=op.f("uq_pki_crl_issuer_id")),
    )
    op.create_index(op.f("ix_pki_crl_issuer_id"), "pki_crl", ["issuer_id"])

    op.create_table(
        "pki_timestamp",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("serial", sa.String(64), nullable=False),
        sa.Column("tsa_cert_id", sa.String(32), nullable=False),
        sa.Column("gen_time", UtcDateTime(), nullable=False),
        sa.Column("hash_algorithm", sa.String(16), nullable=False),
        sa.Column("message_imprint", sa.String(128), nullable=False),
        sa.Column("policy", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pki_timestamp")),
        sa.UniqueConstraint("serial", name=op.f("uq_pki_timestamp_serial")),
    )
    op.create_index(op.f("ix_pki_timestamp_gen_time"), "pki_timestamp", ["gen_time"])


def downgrade() -> None:
    op.drop_table("pki_timestamp")
    op.drop_table("pki_crl")
    op.drop_table("pki_certificate")
