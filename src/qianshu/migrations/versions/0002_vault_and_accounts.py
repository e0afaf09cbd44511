"""vault data keys; accounts users, sessions, one-time codes and login throttles

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from qianshu.db import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vault_data_key",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("kek_id", sa.String(32), nullable=True),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("rewrapped_at", UtcDateTime(), nullable=True),
        sa.Column("destroyed_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vault_data_key")),
        sa.UniqueConstraint("subject_id", name=op.f("uq_vault_data_key_subject_id")),
    )
    op.create_index(op.f("ix_vault_data_key_kek_id"), "vault_data_key", ["kek_id"])

    op.create_table(
        "accounts_user",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("phone_bidx", sa.String(64), nullable=True),
        sa.Column("email_bidx", sa.String(64), nullable=True),
        sa.Column("phone_enc", sa.LargeBinary(), nullable=True),
        sa.Column("email_enc", sa.LargeBinary(), nullable=True),
        sa.Column("display_name_enc", sa.LargeBinary(), nullable=True),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("password_changed_at", UtcDateTime(), nullable=True),
        sa.Column("last_login_at", UtcDateTime(), nullable=True),
        sa.Column("cancelled_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts_user")),
        sa.UniqueConstraint("phone_bidx", name=op.f("uq_accounts_user_phone_bidx")),
        sa.UniqueConstraint("email_bidx", name=op.f("uq_accounts_user_email_bidx")),
    )
    op.create_index(op.f("ix_accounts_user_status"), "accounts_user", ["status"])

    op.create_table(
        "accounts_session",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("device", sa.String(80), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("last_seen_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
        sa.Column("revoked_reason", sa.String(32), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["accounts_user.id"], name=op.f("fk_accounts_session_user_id_accounts_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_accounts_session_token_hash")),
    )
    op.create_index(op.f("ix_accounts_session_user_id"), "accounts_session", ["user_id"])
    op.create_index(op.f("ix_accounts_session_expires_at"), "accounts_session", ["expires_at"])

    op.create_table(
        "accounts_otp_code",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("purpose", sa.String(24), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("target_bidx", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=True),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("used_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts_otp_code")),
    )
    op.create_index(op.f("ix_accounts_otp_code_target_bidx"), "accounts_otp_code", ["target_bidx"])
    op.create_index(op.f("ix_accounts_otp_code_expires_at"), "accounts_otp_code", ["expires_at"])

    op.create_table(
        "accounts_login_throttle",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", UtcDateTime(), nullable=False),
        sa.Column("locked_until", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_accounts_login_throttle")),
    )


def downgrade() -> None:
    op.drop_table("accounts_login_throttle")
    op.drop_table("accounts_otp_code")
    op.drop_table("accounts_session")
    op.drop_table("accounts_user")
    op.drop_table("vault_data_key")
