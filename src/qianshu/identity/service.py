"""Real-name verification of individuals: the identity domain's public functions.

Other domains import this module only (`from qianshu.identity import service as identity_service`).
Promises kept here (docs/identity.md, docs/promises.md): A4 (2/3/4-element and face checks through
provider adapters, ID numbers validated locally first), A5 (manual review with other documents),
A7 (signing needs the configured level: `can_sign`, `require_signing_identity`), A8 (age gate and
guardian consent), P2 (separate consent per sensitive purpose; withdrawal stops processing),
P9 (each provider call in the sharing register, also `check_name_and_id` of someone else's name
and ID number, e.g. an organisation's legal representative), P10 (each staff opening logged for
the person).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.identity import levels
from qianshu.identity.checks import (
    CHECK_JOB,
    cancel_verification,
    get_verification,
    list_verifications,
    on_consent_withdrawn,
    reconcile_consents,
    retry_check,
    start_verification,
    submit_elements,
    submit_face,
    verify_now,
    withdraw_consent,
)
from qianshu.identity.face_intent import confirm_face
from qianshu.identity.gate import missing_consents
from qianshu.identity.guardian import (
    confirm_guardian_consent,
    list_guardian_requests,
    request_guardian_consent,
    revoke_guardian_consent,
)
from qianshu.identity.person import (
    CERTIFICATE_JOB,
    can_sign,
    ensure_certificate,
    get_identity,
    masked,
    matches_verified_identity,
    personal_section,
    require_signing_identity,
    verified_level,
    verified_name,
)
from qianshu.identity.review import decide_review, get_review, list_reviews, reveal_review, submit_review
from qianshu.identity.schemas import IdentityOverview, LevelOption
from qianshu.identity.store import OPEN
from qianshu.identity.third_party import check_name_and_id
from qianshu.privacy import service as privacy_service
from qianshu.privacy.centre_schemas import DataSection, SharingRead, StaffAccessRead

__all__ = [
    "CERTIFICATE_JOB",
    "CHECK_JOB",
    "can_sign",
    "cancel_verification",
    "check_name_and_id",
    "confirm_face",
    "confirm_guardian_consent",
    "decide_review",
    "ensure_certificate",
    "get_identity",
    "get_overview",
    "get_review",
    "get_verification",
    "list_guardian_requests",
    "list_reviews",
    "list_sharing",
    "list_staff_access",
    "list_verifications",
    "matches_verified_identity",
    "on_consent_withdrawn",
    "personal_data_for",
    "reconcile_consents",
    "request_guardian_consent",
    "require_signing_identity",
    "retry_check",
    "reveal_review",
    "revoke_guardian_consent",
    "start_verification",
    "submit_elements",
    "submit_face",
    "submit_review",
    "verified_level",
    "verified_name",
    "verify_now",
    "withdraw_consent",
]


def get_overview(*, session: Session, clock: Clock, user_id: str, locale: str = "zh-CN") -> IdentityOverview:
    """Return what the person's identity page shows: level, open verification, options, history."""
    from qianshu.core.runtime import runtime_of

    reconcile_consents(session=session, clock=clock, user_id=user_id)
    required = runtime_of(session).settings.signing_identity_level
    identity = get_identity(session=session, user_id=user_id)
    name_masked, number_masked = masked(session, user_id)
    history = list_verifications(session=session, user_id=user_id, locale=locale)
    open_one = next((v for v in history if v.status in OPEN), None)
    options = [
        LevelOption(
            level=level,
            label=levels.label(level, locale),
            purposes=list(levels.purposes_for(level)),
            missing_consents=missing_consents(session, user_id=user_id, level=level),
            satisfies_signing=levels.meets(level, required),
        )
        for level in levels.LEVELS
    ]
    return IdentityOverview(
        verified=identity is not None,
        level=identity.level if identity else None,
        level_label=levels.label(identity.level, locale) if identity else None,
        verified_at=identity.verified_at if identity else None,
        doc_type=identity.doc_type if identity else None,
        name_masked=name_masked,
        id_number_masked=number_masked,
        certificate_id=identity.certificate_id if identity else None,
        required_level=required,
        can_sign=identity is not None and levels.meets(identity.level, required),
        open_verification=open_one,
        levels=options,
        history=history,
    )


def personal_data_for(*, session: Session, user_id: str) -> DataSection | None:
    """Return the identity section of the person's privacy centre and data copy (clear; privacy masks)."""
    return personal_section(session, user_id)


def list_staff_access(*, session: Session, subject_id: str, locale: str = "zh-CN") -> list[StaffAccessRead]:
    """Return every staff opening of the person's data, newest first, with the staff's notes (P10)."""
    return privacy_service.list_staff_access(session=session, subject_id=subject_id, with_note=True, locale=locale)


def list_sharing(*, session: Session, subject_id: str) -> list[SharingRead]:
    """Return every transfer of the person's data to a third party, newest first (P9)."""
    return privacy_service.list_sharing(session=session, subject_id=subject_id)
