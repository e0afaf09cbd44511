"""privacy: centre, requests with deadlines, sharing register, staff access, retention, incidents

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from qianshu.db import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "privacy_calendar_day",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("note", sa.String(400), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_privacy_calendar_day")),
    )
    op.create_table(
        "privacy_request",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("object_type", sa.String(32), nullable=True),
        sa.Column("object_id", sa.String(64), nullable=True),
        sa.Column("field", sa.String(64), nullable=True),
        sa.Column("details_enc", sa.LargeBinary(), nullable=True),
        sa.Column("otp_id", sa.String(32), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("verified_at", UtcDateTime(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("working_days", sa.Integer(), nullable=True),
        sa.Column("calendar_provisional", sa.Boolean(), nullable=False),
        sa.Column("execute_after", UtcDateTime(), nullable=True),
        sa.Column("assigned_to", sa.String(32), nullable=True),
        sa.Column("resolution", sa.String(32), nullable=True),
        sa.Column("resolution_note_enc", sa.LargeBinary(), nullable=True),
        sa.Column("closed_at", UtcDateTime(), nullable=True),
        sa.Column("near_due_alerted_on", sa.Date(), nullable=True),
        sa.Column("overdue_alerted_on", sa.Date(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_request")),
    )
    op.create_index(op.f("ix_privacy_request_user_id"), "privacy_request", ["user_id"])
    op.create_index(op.f("ix_privacy_request_status"), "privacy_request", ["status"])
    op.create_index(op.f("ix_privacy_request_object_id"), "privacy_request", ["object_id"])
    op.create_index(op.f("ix_privacy_request_due_on"), "privacy_request", ["due_on"])
    op.create_table(
        "privacy_request_step",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("actor_role", sa.String(24), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("note_enc", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["privacy_request.id"],
            name=op.f("fk_privacy_request_step_request_id_privacy_request"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_request_step")),
        sa.UniqueConstraint("request_id", "seq", name="uq_privacy_request_step_request_seq"),
    )
    op.create_index(op.f("ix_privacy_request_step_request_id"), "privacy_request_step", ["request_id"])
    op.create_table(
        "privacy_party_decision",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(32), nullable=False),
        sa.Column("party_id", sa.String(40), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("decided_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["privacy_request.id"],
            name=op.f("fk_privacy_party_decision_request_id_privacy_request"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_party_decision")),
        sa.UniqueConstraint("request_id", "party_id", name="uq_privacy_party_decision_request_party"),
    )
    op.create_index(op.f("ix_privacy_party_decision_request_id"), "privacy_party_decision", ["request_id"])
    op.create_index(op.f("ix_privacy_party_decision_party_id"), "privacy_party_decision", ["party_id"])
    op.create_table(
        "privacy_export",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("ready_at", UtcDateTime(), nullable=True),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("json_blob_id", sa.String(32), nullable=True),
        sa.Column("pdf_blob_id", sa.String(32), nullable=True),
        sa.Column("json_sha256", sa.String(64), nullable=True),
        sa.Column("pdf_sha256", sa.String(64), nullable=True),
        sa.Column("downloads", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_export")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_privacy_export_token_hash")),
    )
    op.create_index(op.f("ix_privacy_export_user_id"), "privacy_export", ["user_id"])
    op.create_index(op.f("ix_privacy_export_expires_at"), "privacy_export", ["expires_at"])
    op.create_table(
        "privacy_sharing",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(40), nullable=False),
        sa.Column("recipient", sa.String(120), nullable=False),
        sa.Column("recipient_kind", sa.String(32), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("purpose", sa.String(200), nullable=False),
        sa.Column("legal_basis", sa.String(32), nullable=False),
        sa.Column("object_id", sa.String(64), nullable=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("shared_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_sharing")),
    )
    op.create_index(op.f("ix_privacy_sharing_subject_id"), "privacy_sharing", ["subject_id"])
    op.create_index(op.f("ix_privacy_sharing_shared_at"), "privacy_sharing", ["shared_at"])
    op.create_table(
        "privacy_staff_access",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("staff_id", sa.String(32), nullable=False),
        sa.Column("staff_role", sa.String(24), nullable=False),
        sa.Column("subject_id", sa.String(40), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("note_enc", sa.LargeBinary(), nullable=True),
        sa.Column("object_id", sa.String(64), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("accessed_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_staff_access")),
    )
    op.create_index(op.f("ix_privacy_staff_access_staff_id"), "privacy_staff_access", ["staff_id"])
    op.create_index(op.f("ix_privacy_staff_access_subject_id"), "privacy_staff_access", ["subject_id"])
    op.create_index(op.f("ix_privacy_staff_access_accessed_at"), "privacy_staff_access", ["accessed_at"])
    op.create_table(
        "privacy_staff_role",
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("role", sa.String(24), nullable=False),
        sa.Column("granted_by", sa.String(64), nullable=False),
        sa.Column("granted_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "role", name=op.f("pk_privacy_staff_role")),
    )
    op.create_table(
        "privacy_retention_hold",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(40), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("basis", sa.String(120), nullable=False),
        sa.Column("retain_until", UtcDateTime(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("released_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_retention_hold")),
    )
    op.create_index(op.f("ix_privacy_retention_hold_subject_id"), "privacy_retention_hold", ["subject_id"])
    op.create_index(
        op.f("ix_privacy_retention_hold_retain_until"), "privacy_retention_hold", ["retain_until"]
    )
    op.create_table(
        "privacy_retained_record",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("hold_id", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(40), nullable=False),
        sa.Column("source", sa.String(120), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["hold_id"],
            ["privacy_retention_hold.id"],
            name=op.f("fk_privacy_retained_record_hold_id_privacy_retention_hold"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_retained_record")),
    )
    op.create_index(op.f("ix_privacy_retained_record_hold_id"), "privacy_retained_record", ["hold_id"])
    op.create_index(op.f("ix_privacy_retained_record_subject_id"), "privacy_retained_record", ["subject_id"])
    op.create_table(
        "privacy_legal_hold",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(40), nullable=True),
        sa.Column("category", sa.String(32), nullable=True),
        sa.Column("reference", sa.String(120), nullable=False),
        sa.Column("placed_by", sa.String(64), nullable=False),
        sa.Column("placed_at", UtcDateTime(), nullable=False),
        sa.Column("released_by", sa.String(64), nullable=True),
        sa.Column("released_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_legal_hold")),
    )
    op.create_index(op.f("ix_privacy_legal_hold_subject_id"), "privacy_legal_hold", ["subject_id"])
    op.create_table(
        "privacy_notification_pref",
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("marketing_sms", sa.Boolean(), nullable=False),
        sa.Column("marketing_email", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_privacy_notification_pref")),
    )
    op.create_table(
        "privacy_incident",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("impact", sa.Text(), nullable=False),
        sa.Column("measures", sa.Text(), nullable=False),
        sa.Column("advice", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("occurred_from", UtcDateTime(), nullable=False),
        sa.Column("occurred_to", UtcDateTime(), nullable=True),
        sa.Column("discovered_at", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("affected_count", sa.Integer(), nullable=False),
        sa.Column("notified_at", UtcDateTime(), nullable=True),
        sa.Column("reported_at", UtcDateTime(), nullable=True),
        sa.Column("closed_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_incident")),
    )
    op.create_index(op.f("ix_privacy_incident_status"), "privacy_incident", ["status"])
    op.create_table(
        "privacy_incident_subject",
        sa.Column("incident_id", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(40), nullable=False),
        sa.Column("notified_at", UtcDateTime(), nullable=True),
        sa.Column("channel", sa.String(16), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["privacy_incident.id"],
            name=op.f("fk_privacy_incident_subject_incident_id_privacy_incident"),
        ),
        sa.PrimaryKeyConstraint("incident_id", "subject_id", name=op.f("pk_privacy_incident_subject")),
    )
    op.create_table(
        "privacy_service_state",
        sa.Column("key", sa.String(40), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_privacy_service_state")),
    )


def downgrade() -> None:
    for table in (
        "privacy_service_state",
        "privacy_incident_subject",
        "privacy_incident",
        "privacy_notification_pref",
        "privacy_legal_hold",
        "privacy_retained_record",
        "privacy_retention_hold",
        "privacy_staff_role",
        "privacy_staff_access",
        "privacy_sharing",
        "privacy_export",
        "privacy_party_decision",
        "privacy_request_step",
        "privacy_request",
        "privacy_calendar_day",
    ):
        op.drop_table(table)
