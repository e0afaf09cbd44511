"""identity: verification attempts, verified persons, document images, guardian consents

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from qianshu.db import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_verification",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("doc_type", sa.String(32), nullable=False),
        sa.Column("name_enc", sa.LargeBinary(), nullable=True),
        sa.Column("id_number_enc", sa.LargeBinary(), nullable=True),
        sa.Column("id_number_bidx", sa.String(64), nullable=True),
        sa.Column("birth_date_enc", sa.LargeBinary(), nullable=True),
        sa.Column("phone_enc", sa.LargeBinary(), nullable=True),
        sa.Column("bank_card_enc", sa.LargeBinary(), nullable=True),
        sa.Column("face_enc", sa.LargeBinary(), nullable=True),
        sa.Column("face_content_type", sa.String(16), nullable=True),
        sa.Column("guardian_consent_id", sa.String(32), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(32), nullable=True),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=True),
        sa.Column("failure_reason", sa.String(32), nullable=True),
        sa.Column("review_note_enc", sa.LargeBinary(), nullable=True),
        sa.Column("reviewer_id", sa.String(32), nullable=True),
        sa.Column("provider_ref", sa.String(64), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("submitted_at", UtcDateTime(), nullable=True),
        sa.Column("completed_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_verification")),
    )
    op.create_index(op.f("ix_identity_verification_user_id"), "identity_verification", ["user_id"])
    op.create_index(op.f("ix_identity_verification_status"), "identity_verification", ["status"])
    op.create_index(
        op.f("ix_identity_verification_id_number_bidx"), "identity_verification", ["id_number_bidx"]
    )

    op.create_table(
        "identity_person",
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("doc_type", sa.String(32), nullable=False),
        sa.Column("verification_id", sa.String(32), nullable=False),
        sa.Column("name_enc", sa.LargeBinary(), nullable=False),
        sa.Column("id_number_enc", sa.LargeBinary(), nullable=False),
        sa.Column("id_number_bidx", sa.String(64), nullable=False),
        sa.Column("birth_date_enc", sa.LargeBinary(), nullable=False),
        sa.Column("certificate_id", sa.String(32), nullable=True),
        sa.Column("verified_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_identity_person")),
        sa.ForeignKeyConstraint(
            ["verification_id"],
            ["identity_verification.id"],
            name=op.f("fk_identity_person_verification_id_identity_verification"),
        ),
        sa.UniqueConstraint("id_number_bidx", name=op.f("uq_identity_person_id_number_bidx")),
    )

    op.create_table(
        "identity_document_image",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("verification_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(16), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("data_enc", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_document_image")),
        sa.ForeignKeyConstraint(
            ["verification_id"],
            ["identity_verification.id"],
            name=op.f("fk_identity_document_image_verification_id_identity_verification"),
        ),
    )
    op.create_index(
        op.f("ix_identity_document_image_verification_id"), "identity_document_image", ["verification_id"]
    )

    op.create_table(
        "identity_guardian_consent",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("minor_user_id", sa.String(32), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("guardian_user_id", sa.String(32), nullable=True),
        sa.Column("relationship", sa.String(16), nullable=True),
        sa.Column("child_id_bidx", sa.String(64), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("confirmed_at", UtcDateTime(), nullable=True),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_guardian_consent")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_identity_guardian_consent_code_hash")),
    )
    op.create_index(
        op.f("ix_identity_guardian_consent_minor_user_id"), "identity_guardian_consent", ["minor_user_id"]
    )
    op.create_index(
        op.f("ix_identity_guardian_consent_guardian_user_id"),
        "identity_guardian_consent",
        ["guardian_user_id"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_identity_guardian_consent_guardian_user_id"), table_name="identity_guardian_consent"
    )
    op.drop_index(op.f("ix_identity_guardian_consent_minor_user_id"), table_name="identity_guardian_consent")
    op.drop_table("identity_guardian_consent")
    op.drop_index(op.f("ix_identity_document_image_verification_id"), table_name="identity_document_image")
    op.drop_table("identity_document_image")
    op.drop_table("identity_person")
    op.drop_index(op.f("ix_identity_verification_id_number_bidx"), table_name="identity_verification")
    op.drop_index(op.f("ix_identity_verification_status"), table_name="identity_verification")
    op.drop_index(op.f("ix_identity_verification_user_id"), table_name="identity_verification")
    op.drop_table("identity_verification")
