"""contracts_api_keys_webhooks: organisation API keys, idempotency records, webhooks and deliveries

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from qianshu.db import UtcDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contracts_api_key",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("org_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("rate_limit", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("last_used_at", UtcDateTime(), nullable=True),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts_api_key")),
    )
    op.create_index(op.f("ix_contracts_api_key_org_id"), "contracts_api_key", ["org_id"])
    op.create_table(
        "contracts_idempotency",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("owner_id", sa.String(32), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("contract_id", sa.String(32), nullable=True),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts_idempotency")),
        sa.UniqueConstraint("owner_id", "key_hash", name=op.f("uq_contracts_idempotency_owner_id")),
    )
    op.create_table(
        "contracts_webhook",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("org_id", sa.String(32), nullable=False),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret_enc", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts_webhook")),
    )
    op.create_index(op.f("ix_contracts_webhook_org_id"), "contracts_webhook", ["org_id"])
    op.create_table(
        "contracts_webhook_delivery",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("webhook_id", sa.String(32), nullable=False),
        sa.Column("org_id", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("replay_of", sa.String(32), nullable=True),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("last_attempt_at", UtcDateTime(), nullable=True),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=True),
        sa.Column("delivered_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts_webhook_delivery")),
    )
    op.create_index(op.f("ix_contracts_webhook_delivery_webhook_id"), "contracts_webhook_delivery", ["webhook_id"])
    op.create_index(op.f("ix_contracts_webhook_delivery_org_id"), "contracts_webhook_delivery", ["org_id"])
    op.create_index(op.f("ix_contracts_webhook_delivery_event_id"), "contracts_webhook_delivery", ["event_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_contracts_webhook_delivery_event_id"), table_name="contracts_webhook_delivery")
    op.drop_index(op.f("ix_contracts_webhook_delivery_org_id"), table_name="contracts_webhook_delivery")
    op.drop_index(op.f("ix_contracts_webhook_delivery_webhook_id"), table_name="contracts_webhook_delivery")
    op.drop_table("contracts_webhook_delivery")
    op.drop_index(op.f("ix_contracts_webhook_org_id"), table_name="contracts_webhook")
    op.drop_table("contracts_webhook")
    op.drop_table("contracts_idempotency")
    op.drop_index(op.f("ix_contracts_api_key_org_id"), table_name="contracts_api_key")
    op.drop_table("contracts_api_key")
