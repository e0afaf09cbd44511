"""evidence audit trail and network log; privacy consent ledger (append-only, guarded by triggers)

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from qianshu.db import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Tables whose rows may never change or disappear once written.
APPEND_ONLY = ("audit_event", "privacy_policy", "privacy_policy_acceptance", "privacy_consent")
PG_FUNCTION = "qianshu_refuse_change"


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("stream", sa.String(80), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(80), nullable=False),
        sa.Column("object_id", sa.String(64), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("network_log_id", sa.String(32), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("event_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
        sa.UniqueConstraint("stream", "seq", name="uq_audit_event_stream_seq"),
    )
    op.create_index(op.f("ix_audit_event_action"), "audit_event", ["action"])
    op.create_index(op.f("ix_audit_event_object_id"), "audit_event", ["object_id"])

    op.create_table(
        "network_log",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("subject_id", sa.String(32), nullable=False),
        sa.Column("ip", sa.LargeBinary(), nullable=False),
        sa.Column("user_agent", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_log")),
    )
    op.create_index(op.f("ix_network_log_created_at"), "network_log", ["created_at"])

    op.create_table(
        "privacy_policy",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("major", sa.Boolean(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("text_sha256", sa.String(64), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("published_at", UtcDateTime(), nullable=False),
        sa.Column("published_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_policy")),
        sa.UniqueConstraint("seq", name=op.f("uq_privacy_policy_seq")),
        sa.UniqueConstraint("version", name=op.f("uq_privacy_policy_version")),
    )

    op.create_table(
        "privacy_policy_acceptance",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("policy_id", sa.String(32), nullable=False),
        sa.Column("accepted_at", UtcDateTime(), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("network_log_id", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_policy_acceptance")),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["privacy_policy.id"],
            name=op.f("fk_privacy_policy_acceptance_policy_id_privacy_policy"),
        ),
        sa.UniqueConstraint("user_id", "policy_id", name="uq_privacy_policy_acceptance_user_policy"),
    )
    op.create_index(op.f("ix_privacy_policy_acceptance_user_id"), "privacy_policy_acceptance", ["user_id"])

    op.create_table(
        "privacy_consent",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("policy_id", sa.String(32), nullable=True),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("network_log_id", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_consent")),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["privacy_policy.id"], name=op.f("fk_privacy_consent_policy_id_privacy_policy")
        ),
        sa.UniqueConstraint("user_id", "seq", name="uq_privacy_consent_user_seq"),
    )
    op.create_index(op.f("ix_privacy_consent_user_id"), "privacy_consent", ["user_id"])

    _install_guards()


def downgrade() -> None:
    _drop_guards()
    op.drop_table("privacy_consent")
    op.drop_table("privacy_policy_acceptance")
    op.drop_table("privacy_policy")
    op.drop_table("network_log")
    op.drop_table("audit_event")


def _install_guards() -> None:
    """Refuse UPDATE, DELETE (and on PostgreSQL TRUNCATE) on every append-only table."""
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            f"CREATE OR REPLACE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME "
            "USING ERRCODE = 'integrity_constraint_violation'; END $$"
        )
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER trg_{table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}()"
            )
            op.execute(
                f"CREATE TRIGGER trg_{table}_no_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {PG_FUNCTION}()"
            )
    elif dialect == "sqlite":
        for table in APPEND_ONLY:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER trg_{table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )


def _drop_guards() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_no_truncate ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {PG_FUNCTION}()")
    elif dialect == "sqlite":
        for table in APPEND_ONLY:
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_no_{verb}")
