"""evidence: preservations (存证), evidence reports (出证) and their deliveries to outside bodies

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from qianshu.db import UtcDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence_preservation",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("owner_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("media_type", sa.String(255), nullable=True),
        sa.Column("label_enc", sa.LargeBinary(), nullable=True),
        sa.Column("blob_id", sa.String(32), nullable=True),
        sa.Column("tst", sa.LargeBinary(), nullable=False),
        sa.Column("tst_time", UtcDateTime(), nullable=False),
        sa.Column("log_entry_id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=True),
        sa.Column("certificate_blob_id", sa.String(32), nullable=True),
        sa.Column("certificate_sha256", sa.String(64), nullable=True),
        sa.Column("signer_cert_id", sa.String(32), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("certified_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_preservation")),
    )
    op.create_index(op.f("ix_evidence_preservation_owner_id"), "evidence_preservation", ["owner_id"])
    op.create_index(op.f("ix_evidence_preservation_sha256"), "evidence_preservation", ["sha256"])
    op.create_table(
        "evidence_report",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("subject_kind", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(32), nullable=False),
        sa.Column("authority_kind", sa.String(16), nullable=True),
        sa.Column("authority_name", sa.String(200), nullable=True),
        sa.Column("reference_no", sa.String(100), nullable=True),
        sa.Column("request_document_blob_id", sa.String(32), nullable=True),
        sa.Column("note_enc", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(32), nullable=True),
        sa.Column("decided_at", UtcDateTime(), nullable=True),
        sa.Column("decision_reason_enc", sa.LargeBinary(), nullable=True),
        sa.Column("report_blob_id", sa.String(32), nullable=True),
        sa.Column("report_sha256", sa.String(64), nullable=True),
        sa.Column("signer_cert_id", sa.String(32), nullable=True),
        sa.Column("log_entry_id", sa.String(32), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("issued_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_report")),
    )
    op.create_index(op.f("ix_evidence_report_subject_id"), "evidence_report", ["subject_id"])
    op.create_index(op.f("ix_evidence_report_requested_by"), "evidence_report", ["requested_by"])
    op.create_table(
        "evidence_delivery",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("report_id", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(32), nullable=False),
        sa.Column("recipient", sa.String(200), nullable=False),
        sa.Column("recipient_kind", sa.String(16), nullable=False),
        sa.Column("item", sa.String(32), nullable=False),
        sa.Column("purpose", sa.String(200), nullable=False),
        sa.Column("delivered_by", sa.String(32), nullable=False),
        sa.Column("delivered_at", UtcDateTime(), nullable=False),
        sa.Column("sharing_id", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_delivery")),
    )
    op.create_index(op.f("ix_evidence_delivery_report_id"), "evidence_delivery", ["report_id"])
    op.create_index(op.f("ix_evidence_delivery_subject_id"), "evidence_delivery", ["subject_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_evidence_delivery_subject_id"), table_name="evidence_delivery")
    op.drop_index(op.f("ix_evidence_delivery_report_id"), table_name="evidence_delivery")
    op.drop_table("evidence_delivery")
    op.drop_index(op.f("ix_evidence_report_requested_by"), table_name="evidence_report")
    op.drop_index(op.f("ix_evidence_report_subject_id"), table_name="evidence_report")
    op.drop_table("evidence_report")
    op.drop_index(op.f("ix_evidence_preservation_sha256"), table_name="evidence_preservation")
    op.drop_index(op.f("ix_evidence_preservation_owner_id"), table_name="evidence_preservation")
    op.drop_table("evidence_preservation")
