"""orgs: organisations and their verification, documents, members, invitations, seals, grants, deposits

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from qianshu.db import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orgs_org",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("verified_uscc", sa.String(18), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("applicant_id", sa.String(32), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("verified_at", UtcDateTime(), nullable=True),
        sa.Column("certificate_id", sa.String(32), nullable=True),
        sa.Column("licence_status", sa.String(16), nullable=False),
        sa.Column("legal_rep_status", sa.String(16), nullable=False),
        sa.Column("legal_rep_method", sa.String(24), nullable=True),
        sa.Column("legal_rep_name_enc", sa.LargeBinary(), nullable=True),
        sa.Column("legal_rep_id_enc", sa.LargeBinary(), nullable=True),
        sa.Column("legal_rep_user_id", sa.String(32), nullable=True),
        sa.Column("legal_rep_verified_at", UtcDateTime(), nullable=True),
        sa.Column("agent_status", sa.String(24), nullable=False),
        sa.Column("agent_method", sa.String(24), nullable=True),
        sa.Column("agent_user_id", sa.String(32), nullable=True),
        sa.Column("agent_authorised_at", UtcDateTime(), nullable=True),
        sa.Column("bank_status", sa.String(16), nullable=False),
        sa.Column("bank_verified_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orgs_org")),
        sa.UniqueConstraint("verified_uscc", name=op.f("uq_orgs_org_verified_uscc")),
    )
    op.create_index(op.f("ix_orgs_org_uscc"), "orgs_org", ["uscc"])
    op.create_index(op.f("ix_orgs_org_status"), "orgs_org", ["status"])
    op.create_index(op.f("ix_orgs_org_applicant_id"), "orgs_org", ["applicant_id"])

    op.create_table(
        "orgs_document",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("org_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("image_enc", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_by", sa.String(32), nullable=False),
        sa.Column("uploaded_at", UtcDateTime(), nullable=False),
        sa.Column("reviewed_by", sa.String(32), nullable=True),
        sa.Column("reviewed_at", UtcDateTime(), nullable=True),
        sa.Column("reject_reason", sa.String(32), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["orgs_org.id"], name=op.f("fk_orgs_document_org_id_orgs_org")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orgs_document")),
    )
    op.create_index(op.f("ix_orgs_document_org_id"), "orgs_document", ["org_id"])
    op.create_index(op.f("ix_orgs_document_status"), "orgs_document", ["status"])

    op.create_table(
        "orgs_legal_rep_confirmation",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("org_id", sa.String(32), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("agent_user_id", sa.String(32), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("confirmed_by", sa.String(32), nullable=True),
        sa.Column("confirmed_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs_org.id"], name=op.f("fk_orgs_legal_rep_confirmation_org_id_orgs_org")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orgs_legal_rep_confirmation")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_orgs_legal_rep_confirmation_token_hash")),
    )
    op.create_index(op.f("ix_orgs_legal_rep_confirmation_org_id"), "orgs_legal_rep_confirmation", ["org_id"])

    op.create_table(
        "orgs_member",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("org_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("added_by", sa.String(32), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["orgs_org.id"], name=op.f("fk_orgs_member_org_id_orgs_org")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orgs_member")),
        sa.UniqueConstraint("org_id", "user_id", name="uq_orgs_member_org_user"),
    )
    op.create_index(op.f("ix_orgs_member_org_id"), "orgs_member", ["org_id"])
    op.create_index(op.f("ix_orgs_member_user_id"), "orgs_member", ["user_id"])

    op.create_table(
        "orgs_invitation",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("org_id", sa.String(32), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("contact_bidx", sa.String(64), nullable=False),
        sa.Column("contact_enc", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("invited_by", sa.String(32), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("accepted_by", sa.String(32), nullable=True),
        sa.Column("accepted_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["orgs_org.id"], name=op.f("fk_orgs_invitation_org_id_orgs_org")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orgs_invitation")),
    )
    op.create_index(op.f("ix_orgs_invitation_org_id"), "orgs_invitation", ["org_id"])
    op.create_index(op.f("ix_orgs_invitation_contact_bidx"), "orgs_invitation", ["contact_bidx"])

    op.create_table(
        "orgs_seal",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("org_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("footer", sa.String(24), nullable=True),
        sa.Column("image_enc", sa.LargeBinary(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("requires_approval", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["orgs_org.id"], name=op.f("fk_orgs_seal_org_id_orgs_org")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orgs_seal")),
    )
    op.create_index(op.f("ix_orgs_seal_org_id"), "orgs_seal", ["org_id"])

    op.create_table(
        "orgs_seal_grant",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("org_id", sa.String(32), nullable=False),
        sa.Column("seal_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("granted_by", sa.String(32), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(32), nullable=True),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["orgs_org.id"], name=op.f("fk_orgs_seal_grant_org_id_orgs_org")),
        sa.ForeignKeyConstraint(["seal_id"], ["orgs_seal.id"], name=op.f("fk_orgs_seal_grant_seal_id_orgs_seal")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orgs_seal_grant")),
    )
    op.create_index(op.f("ix_orgs_seal_grant_org_id"), "orgs_seal_grant", ["org_id"])
    op.create_index(op.f("ix_orgs_seal_grant_seal_id"), "orgs_seal_grant", ["seal_id"])
    op.create_index(op.f("ix_orgs_seal_grant_user_id"), "orgs_seal_grant", ["user_id"])

    op.create_table(
        "orgs_micro_deposit",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("org_id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("bank_name_enc", sa.LargeBinary(), nullable=False),
        sa.Column("account_number_enc", sa.LargeBinary(), nullable=False),
        sa.Column("account_last4", sa.String(4), nullable=False),
        sa.Column("amount_enc", sa.LargeBinary(), nullable=False),
        sa.Column("memo_code", sa.String(8), nullable=False),
        sa.Column("provider_transfer_id", sa.String(64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_by", sa.String(32), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("verified_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["orgs_org.id"], name=op.f("fk_orgs_micro_deposit_org_id_orgs_org")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orgs_micro_deposit")),
    )
    op.create_index(op.f("ix_orgs_micro_deposit_org_id"), "orgs_micro_deposit", ["org_id"])


def downgrade() -> None:
    op.drop_table("orgs_micro_deposit")
    op.drop_table("orgs_seal_grant")
    op.drop_table("orgs_seal")
    op.drop_table("orgs_invitation")
    op.drop_table("orgs_member")
    op.drop_table("orgs_legal_rep_confirmation")
    op.drop_table("orgs_document")
    op.drop_table("orgs_org")
