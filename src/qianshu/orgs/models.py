"""Tables of the orgs domain: organisations and their verification, members, invitations, seals.

Everything that identifies a person or could be misused is a vault ciphertext under the
organisation's own data key (subject = the org id): the business-licence and authorisation-letter
images, the legal representative's name and ID number, bank account details, the micro-deposit
amount, invitation contacts and seal images. The organisation's name and unified social credit
code are public registration data and stay in clear.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from qianshu.db import Base


class Org(Base):
    """An organisation (enterprise) and the state of each verification step."""

    __tablename__ = "orgs_org"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    uscc: Mapped[str] = mapped_column(String(18), index=True)
    verified_uscc: Mapped[str | None] = mapped_column(String(18), unique=True, nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # draft | verified
    applicant_id: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    verified_at: Mapped[datetime | None] = mapped_column(nullable=True)
    certificate_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    licence_status: Mapped[str] = mapped_column(String(16))  # missing | pending_review | approved | rejected
    legal_rep_status: Mapped[str] = mapped_column(String(16))  # missing | verified
    legal_rep_method: Mapped[str | None] = mapped_column(String(24), nullable=True)  # self | identity_check
    legal_rep_name_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    legal_rep_id_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    legal_rep_user_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    legal_rep_verified_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # missing | pending_review | pending_confirmation | authorised | rejected
    agent_status: Mapped[str] = mapped_column(String(24))
    agent_method: Mapped[str | None] = mapped_column(String(24), nullable=True)  # legal_rep | letter | confirmation
    agent_user_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    agent_authorised_at: Mapped[datetime | None] = mapped_column(nullable=True)
    bank_status: Mapped[str] = mapped_column(String(16))  # missing | sent | verified | locked
    bank_verified_at: Mapped[datetime | None] = mapped_column(nullable=True)


class OrgDocument(Base):
    """An uploaded business licence or authorisation letter, waiting for or past operator review."""

    __tablename__ = "orgs_document"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs_org.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))  # licence | authorisation_letter
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending_review | approved | rejected | superseded
    content_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    image_enc: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str] = mapped_column(String(32))
    uploaded_at: Mapped[datetime]
    reviewed_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    reject_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)


class LegalRepConfirmation(Base):
    """A request that the legal representative confirm the applicant as the organisation's agent."""

    __tablename__ = "orgs_legal_rep_confirmation"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs_org.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))  # pending | confirmed | superseded
    agent_user_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    confirmed_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(nullable=True)


class OrgMember(Base):
    """A user's membership and role in an organisation."""

    __tablename__ = "orgs_member"
    __table_args__ = (UniqueConstraint("org_id", "user_id", name="uq_orgs_member_org_user"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs_org.id"), index=True)
    user_id: Mapped[str] = mapped_column(String(32), index=True)
    role: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # active | removed
    added_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class OrgInvitation(Base):
    """An invitation to join an organisation, addressed to a phone number or e-mail address."""

    __tablename__ = "orgs_invitation"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs_org.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(8))  # phone | email
    contact_bidx: Mapped[str] = mapped_column(String(64), index=True)
    contact_enc: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16))  # pending | accepted | revoked
    invited_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    accepted_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    accepted_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Seal(Base):
    """A seal image of an organisation (generated or uploaded) and its use-approval setting."""

    __tablename__ = "orgs_seal"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs_org.id"), index=True)
    name: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(16))  # generated | uploaded
    footer: Mapped[str | None] = mapped_column(String(24), nullable=True)
    image_enc: Mapped[bytes] = mapped_column(LargeBinary)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    requires_approval: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))  # active | disabled
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SealGrant(Base):
    """Permission for one member to use one seal, until revoked or expired."""

    __tablename__ = "orgs_seal_grant"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs_org.id"), index=True)
    seal_id: Mapped[str] = mapped_column(ForeignKey("orgs_seal.id"), index=True)
    user_id: Mapped[str] = mapped_column(String(32), index=True)
    granted_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class MicroDeposit(Base):
    """One micro-deposit check (打款验证) of the organisation's corporate bank account."""

    __tablename__ = "orgs_micro_deposit"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs_org.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # sent | verified | locked | superseded
    bank_name_enc: Mapped[bytes] = mapped_column(LargeBinary)
    account_number_enc: Mapped[bytes] = mapped_column(LargeBinary)
    account_last4: Mapped[str] = mapped_column(String(4))
    amount_enc: Mapped[bytes] = mapped_column(LargeBinary)
    memo_code: Mapped[str] = mapped_column(String(8))
    provider_transfer_id: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer)
    started_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    verified_at: Mapped[datetime | None] = mapped_column(nullable=True)
