"""contracts: templates, documents, contracts, recipients and fields

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from qianshu.db import UtcDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contracts_template",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("owner_id", sa.String(32), nullable=False),
        sa.Column("title", sa.String(120), nullable=False),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("body_blob_id", sa.String(32), nullable=False),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts_template")),
    )
    op.create_index(op.f("ix_contracts_template_owner_id"), "contracts_template", ["owner_id"])
    op.create_table(
        "contracts_document",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("owner_id", sa.String(32), nullable=False),
        sa.Column("blob_id", sa.String(32), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("pages", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("template_id", sa.String(32), nullable=True),
        sa.Column("title_enc", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts_document")),
    )
    op.create_index(op.f("ix_contracts_document_owner_id"), "contracts_document", ["owner_id"])
    op.create_table(
        "contracts_contract",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("owner_id", sa.String(32), nullable=False),
        sa.Column("document_id", sa.String(32), nullable=False),
        sa.Column("title_enc", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("deadline", UtcDateTime(), nullable=True),
        sa.Column("original_sha256", sa.String(64), nullable=False),
        sa.Column("current_blob_id", sa.String(32), nullable=False),
        sa.Column("signed_blob_id", sa.String(32), nullable=True),
        sa.Column("signed_sha256", sa.String(64), nullable=True),
        sa.Column("log_entry_id", sa.String(32), nullable=True),
        sa.Column("signatures", sa.Integer(), nullable=False),
        sa.Column("reason_enc", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("sent_at", UtcDateTime(), nullable=True),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts_contract")),
    )
    op.create_index(op.f("ix_contracts_contract_owner_id"), "contracts_contract", ["owner_id"])
    op.create_index(op.f("ix_contracts_contract_status"), "contracts_contract", ["status"])
    op.create_table(
        "contracts_recipient",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("contract_id", sa.String(32), nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("routing_order", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("contact_enc", sa.LargeBinary(), nullable=False),
        sa.Column("contact_bidx", sa.String(64), nullable=False),
        sa.Column("org_id", sa.String(32), nullable=True),
        sa.Column("seal_id", sa.String(32), nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("token_enc", sa.LargeBinary(), nullable=True),
        sa.Column("access_hash", sa.String(64), nullable=True),
        sa.Column("access_until", UtcDateTime(), nullable=True),
        sa.Column("user_id", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason_enc", sa.LargeBinary(), nullable=True),
        sa.Column("signed_at", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts_recipient")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_contracts_recipient_token_hash")),
    )
    op.create_index(op.f("ix_contracts_recipient_contract_id"), "contracts_recipient", ["contract_id"])
    op.create_index(op.f("ix_contracts_recipient_contact_bidx"), "contracts_recipient", ["contact_bidx"])
    op.create_table(
        "contracts_field",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("contract_id", sa.String(32), nullable=False),
        sa.Column("recipient_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("page", sa.Integer(), nullable=False),
        sa.Column("x1", sa.Float(), nullable=False),
        sa.Column("y1", sa.Float(), nullable=False),
        sa.Column("x2", sa.Float(), nullable=False),
        sa.Column("y2", sa.Float(), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("value_enc", sa.LargeBinary(), nullable=True),
        sa.Column("filled_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts_field")),
    )
    op.create_index(op.f("ix_contracts_field_contract_id"), "contracts_field", ["contract_id"])
    op.create_index(op.f("ix_contracts_field_recipient_id"), "contracts_field", ["recipient_id"])


def downgrade() -> None:
    for table in (
        "contracts_field",
        "contracts_recipient",
        "contracts_contract",
        "contracts_document",
        "contracts_template",
    ):
        op.drop_table(table)
