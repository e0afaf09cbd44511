"""The privacy centre (P3, P4): everything the platform holds about a person, one section per domain.

Each domain contributes its section through a small provider registry. A domain's service may
define `personal_data_for(*, session, user_id) -> dict` (a `DataSection`-shaped dict, or None when it
holds nothing); domains that do not exist or do not define it are simply absent. For domains that
exist but do not define it yet (accounts, pki, evidence, privacy itself) this module builds their
sections from their public service functions; a domain's own provider, once it has one, wins.
Values are in clear for the owner; for anyone else each field and record column is masked by its
declared kind, and seeing it in clear goes through `reveal_for_staff`, which logs the access (P10).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.deps import RequestContext
from qianshu.core.logging import get_logger
from qianshu.privacy.centre_schemas import DataField, DataSection, PrivacyCentre
from qianshu.vault import masking

log = get_logger("qianshu.privacy")

Provider = Callable[..., "DataSection | dict[str, Any] | None"]
_REGISTERED: dict[str, Provider] = {}
# Where each domain's section goes and what it is called when the domain does not title it.
_DOMAIN_TITLES: dict[str, tuple[str, str]] = {
    "accounts": ("账户信息", "Account"),
    "identity": ("实名认证信息", "Identity"),
    "orgs": ("企业与组织", "Organisations"),
    "contracts": ("合同", "Contracts"),
    "signing": ("签署记录", "Signatures"),
    "pki": ("数字证书", "Certificates"),
    "storage": ("文件", "Files"),
    "notify": ("消息记录", "Messages"),
    "evidence": ("网络日志摘要", "Network logs"),
}
_ORDER = (
    "accounts",
    "identity",
    "orgs",
    "contracts",
    "signing",
    "pki",
    "consents",
    "preferences",
    "shared_with",
    "staff_access",
    "devices",
    "evidence",
    "requests",
)
_MASKERS: dict[str, Callable[[str], str]] = {
    "phone": masking.mask_phone,
    "email": masking.mask_email,
    "name": masking.mask_name,
    "id_number": masking.mask_id_number,
    "bank_card": masking.mask_bank_card,
}


def register_section(key: str, provider: Provider) -> None:
    """Register `provider(*, session, user_id)` as the source of section `key` (overrides built-ins)."""
    _REGISTERED[key] = provider


def unregister_section(key: str) -> None:
    """Forget a registered provider (tests)."""
    _REGISTERED.pop(key, None)


def mask_value(value: Any, kind: str) -> Any:
    """Return `value` masked per `kind` (`ip` keeps the first two octets)."""
    if value is None or kind == "none" or not isinstance(value, str):
        return value
    if kind == "ip":
        parts = value.split(".")
        return ".".join(parts[:2] + ["*"] * (len(parts) - 2)) if len(parts) == 4 else value[:4] + "…"
    masker = _MASKERS.get(kind)
    return masker(value) if masker else "***"


def masked(section: DataSection) -> DataSection:
    """Return `section` with every personal value masked by its declared kind."""
    fields = [f.model_copy(update={"value": mask_value(f.value, f.mask)}) for f in section.fields]
    records = [
        {k: mask_value(v, section.record_masks.get(k, "none")) for k, v in record.items()}
        for record in section.records
    ]
    return section.model_copy(update={"fields": fields, "records": records})


def _normalise(key: str, raw: DataSection | dict[str, Any] | None) -> DataSection | None:
    if raw is None:
        return None
    if isinstance(raw, DataSection):
        return raw
    title = _DOMAIN_TITLES.get(key, (key, key))
    data = {"key": key, "title": title[0], "title_en": title[1], **raw}
    return DataSection.model_validate(data)


def _domain_providers() -> dict[str, Provider]:
    from qianshu.app import domain_modules

    found: dict[str, Provider] = {}
    for module in domain_modules("service"):
        fn = getattr(module, "personal_data_for", None)
        if callable(fn):
            found[module.__name__.split(".")[1]] = fn
    return found


def _providers() -> dict[str, Provider]:
    providers: dict[str, Provider] = dict(_BUILTIN)
    providers.update(_domain_providers())
    providers.update(_REGISTERED)
    return providers


def build_sections(*, session: Session, user_id: str) -> list[DataSection]:
    """Collect every section about `user_id` in clear (owner's view)."""
    sections = []
    for key, provider in _providers().items():
        section = _normalise(key, provider(session=session, user_id=user_id))
        if section is not None:
            sections.append(section)
    rank = {k: i for i, k in enumerate(_ORDER)}
    sections.sort(key=lambda s: (rank.get(s.key, len(rank)), s.key))
    return sections


def my_data(*, session: Session, clock: Clock, user_id: str) -> PrivacyCentre:
    """Return everything held about `user_id`, in clear, for that person."""
    return PrivacyCentre(
        user_id=user_id,
        generated_at=clock.now(),
        masked=False,
        sections=build_sections(session=session, user_id=user_id),
    )


def subject_data_masked(*, session: Session, clock: Clock, user_id: str) -> PrivacyCentre:
    """Return everything held about `user_id`, masked (what staff see without stating a reason)."""
    sections = [masked(s) for s in build_sections(session=session, user_id=user_id)]
    return PrivacyCentre(user_id=user_id, generated_at=clock.now(), masked=True, sections=sections)


def personal_fields(centre: PrivacyCentre) -> list[str]:
    """Return the names of fields and record columns that carry personal data (masked ones)."""
    names = {
        f"{s.key}.{f.name}" for s in centre.sections for f in s.fields if f.mask != "none" or f.sensitive
    }
    names |= {
        f"{s.key}.{col}" for s in centre.sections for col, kind in s.record_masks.items() if kind != "none"
    }
    return sorted(names)


def reveal_for_staff(
    *,
    session: Session,
    clock: Clock,
    staff_id: str,
    staff_roles: frozenset[str],
    user_id: str,
    reason: str,
    note: str | None = None,
    object_id: str | None = None,
    context: RequestContext | None = None,
) -> PrivacyCentre:
    """Show staff a person's data in clear, sections their roles allow only; log the access (P10)."""
    from qianshu.privacy import staff as staff_module

    identity_ok = bool(staff_roles & staff_module.PERMISSIONS["pi.reveal.identity"])
    contact_ok = bool(staff_roles & staff_module.PERMISSIONS["pi.reveal.contact"])
    clear = my_data(session=session, clock=clock, user_id=user_id)
    shown: list[DataSection] = []
    for section in clear.sections:
        sensitive = section.key in ("identity", "orgs") or any(f.sensitive for f in section.fields)
        allowed = identity_ok if sensitive else contact_ok
        shown.append(section if allowed else masked(section))
    view = PrivacyCentre(user_id=user_id, generated_at=clear.generated_at, masked=False, sections=shown)
    opened = PrivacyCentre(
        user_id=user_id,
        generated_at=clear.generated_at,
        masked=False,
        sections=[s for s in shown if s in clear.sections],
    )
    fields = personal_fields(opened)
    if not fields:
        from qianshu.privacy.errors import StaffRoleRequired

        raise StaffRoleRequired(detail_en="Your roles do not allow seeing any of this person's data in clear")
    staff_module.record_staff_access(
        session=session,
        clock=clock,
        staff_id=staff_id,
        staff_role=sorted(staff_roles)[0],
        subject_id=user_id,
        fields=fields,
        reason=reason,
        note=note,
        object_id=object_id,
        context=context,
    )
    return view


# --- built-in sections for domains that exist but have no provider yet ---------------------------


def _account_section(*, session: Session, user_id: str) -> DataSection | None:
    from qianshu.accounts import service as accounts_service

    user = accounts_service.get_user(session=session, user_id=user_id)
    if user is None:
        return None
    contact = accounts_service.get_contact(session=session, user_id=user_id)
    fields = [
        DataField(name="user_id", label="用户编号", label_en="User id", value=user.id),
        DataField(
            name="phone",
            label="手机号",
            label_en="Mobile number",
            value=contact.phone,
            mask="phone",
            correct="self",
            correct_url="/account/contact",
        ),
        DataField(
            name="email",
            label="电子邮箱",
            label_en="E-mail",
            value=contact.email,
            mask="email",
            correct="self",
            correct_url="/account/contact",
        ),
        DataField(
            name="display_name",
            label="称呼",
            label_en="Name",
            value=contact.display_name,
            mask="name",
            correct="request",
        ),
        DataField(name="status", label="账户状态", label_en="Status", value=user.status),
        DataField(
            name="created_at", label="注册时间", label_en="Registered", value=user.created_at.isoformat()
        ),
        DataField(
            name="last_login_at",
            label="最近登录",
            label_en="Last sign-in",
            value=user.last_login_at.isoformat() if user.last_login_at else None,
        ),
    ]
    title = _DOMAIN_TITLES["accounts"]
    return DataSection(key="accounts", title=title[0], title_en=title[1], fields=fields)


def _devices_section(*, session: Session, user_id: str) -> DataSection | None:
    from qianshu.accounts import service as accounts_service
    from qianshu.core.runtime import runtime_of

    clock = runtime_of(session).clock
    rows = accounts_service.list_sessions(
        session=session, clock=clock, user_id=user_id, current_session_id=None
    )
    records = [
        {
            "session_id": r.id,
            "device": r.device,
            "method": r.method,
            "created_at": r.created_at.isoformat(),
            "last_seen_at": r.last_seen_at.isoformat(),
        }
        for r in rows
    ]
    return DataSection(key="devices", title="登录设备", title_en="Signed-in devices", records=records)


def _certificates_section(*, session: Session, user_id: str) -> DataSection | None:
    from qianshu.pki import service as pki_service

    certs = pki_service.list_certificates_for(session=session, subject_id=user_id)
    if not certs:
        return None
    records = []
    for cert in certs:
        names = []  # a redacted record (account cancelled) no longer holds the certificate
        if not cert.redacted:
            names = x509.load_der_x509_certificate(cert.der).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        records.append(
            {
                "certificate_id": cert.id,
                "subject_name": str(names[0].value) if names else None,
                "serial": cert.serial,
                "status": cert.status,
                "not_before": cert.not_before.isoformat(),
                "not_after": cert.not_after.isoformat(),
                "revoked_at": cert.revoked_at.isoformat() if cert.revoked_at else None,
                "kept_until": cert.retain_until.date().isoformat(),
            }
        )
    title = _DOMAIN_TITLES["pki"]
    return DataSection(
        key="pki",
        title=title[0],
        title_en=title[1],
        records=records,
        record_masks={"subject_name": "name"},
        note="证书记录依《电子签名法》第二十四条在证书失效后保存五年。",
        note_en="Certificate records are kept five years after expiry (Electronic Signature Law art. 24).",
    )


def _network_section(*, session: Session, user_id: str) -> DataSection | None:
    from qianshu.evidence import service as evidence_service

    events = evidence_service.list_events(session=session, stream=f"user:{user_id}")
    log_ids = [e.network_log_id for e in events if e.network_log_id]
    seen: list[dict[str, Any]] = []
    for log_id in dict.fromkeys(reversed(log_ids)):
        entry = evidence_service.get_network_log(session=session, log_id=log_id)
        if entry is not None:
            seen.append({"at": entry.created_at.isoformat(), "ip": entry.ip, "user_agent": entry.user_agent})
        if len(seen) >= 50:
            break
    title = _DOMAIN_TITLES["evidence"]
    return DataSection(
        key="evidence",
        title=title[0],
        title_en=title[1],
        fields=[
            DataField(
                name="logged_requests",
                label="记录的请求数",
                label_en="Requests logged",
                value=str(len(log_ids)),
            ),
        ],
        records=seen,
        record_masks={"ip": "ip"},
        note="网络日志依《网络安全法》第二十一条保存不少于六个月，到期自动删除。",
        note_en="Network logs are kept at least six months (Cybersecurity Law art. 21), then deleted.",
    )


def _consents_section(*, session: Session, user_id: str) -> DataSection | None:
    from qianshu.privacy import service as privacy_service

    states = privacy_service.consent_states(session=session, user_id=user_id)
    fields = [
        DataField(
            name=f"consent.{s.purpose}",
            label=s.label,
            label_en=s.purpose,
            value="granted" if s.granted else "not_granted",
            correct="self",
            correct_url="/privacy/consents",
        )
        for s in states
    ]
    records = [
        {"policy_version": a.version, "accepted_at": a.accepted_at.isoformat()}
        for a in privacy_service.list_acceptances(session=session, user_id=user_id)
    ]
    records += [
        {"purpose": c.purpose, "action": c.action, "recorded_at": c.recorded_at.isoformat()}
        for c in privacy_service.list_consents(session=session, user_id=user_id)
    ]
    return DataSection(
        key="consents", title="授权与同意", title_en="Consents", fields=fields, records=records
    )


def _preferences_section(*, session: Session, user_id: str) -> DataSection | None:
    from qianshu.privacy import preferences

    prefs = preferences.get_preferences(session=session, user_id=user_id)
    fields = [
        DataField(
            name="marketing_sms",
            label="短信营销信息",
            label_en="Marketing by SMS",
            value="on" if prefs.marketing_sms else "off",
            correct="self",
            correct_url="/privacy/centre#preferences",
        ),
        DataField(
            name="marketing_email",
            label="邮件营销信息",
            label_en="Marketing by e-mail",
            value="on" if prefs.marketing_email else "off",
            correct="self",
            correct_url="/privacy/centre#preferences",
        ),
    ]
    return DataSection(
        key="preferences", title="通知偏好", title_en="Notification preferences", fields=fields
    )


def _sharing_section(*, session: Session, user_id: str) -> DataSection | None:
    from qianshu.privacy.sharing import list_sharing

    records = [
        {
            "recipient": r.recipient,
            "recipient_kind": r.recipient_kind,
            "fields": ", ".join(r.fields),
            "purpose": r.purpose,
            "legal_basis": r.legal_basis,
            "shared_at": r.shared_at.isoformat(),
        }
        for r in list_sharing(session=session, subject_id=user_id)
    ]
    return DataSection(
        key="shared_with", title="向第三方提供的记录", title_en="Shared with third parties", records=records
    )


def _staff_access_section(*, session: Session, user_id: str) -> DataSection | None:
    from qianshu.privacy.staff import list_staff_access

    records = [
        {
            "staff_id": a.staff_id,
            "staff_role": a.staff_role,
            "fields": ", ".join(a.fields),
            "reason": a.reason_label,
            "note": a.note,
            "accessed_at": a.accessed_at.isoformat(),
        }
        for a in list_staff_access(session=session, subject_id=user_id, with_note=True)
    ]
    return DataSection(
        key="staff_access",
        title="工作人员查看记录",
        title_en="Staff access to your data",
        records=records,
        record_masks={"note": "none"},
    )


def _requests_section(*, session: Session, user_id: str) -> DataSection | None:
    from qianshu.core.runtime import runtime_of
    from qianshu.privacy import requests as requests_module

    clock = runtime_of(session).clock
    records = [
        {
            "request_id": r.id,
            "kind": r.kind,
            "status": r.status,
            "created_at": r.created_at.isoformat(),
            "due_on": r.due_on.isoformat() if r.due_on else None,
            "resolution": r.resolution,
            "mine": r.user_id == user_id,
        }
        for r in requests_module.list_requests(session=session, clock=clock, user_id=user_id)
    ]
    return DataSection(key="requests", title="个人信息请求", title_en="Your requests", records=records)


_BUILTIN: dict[str, Provider] = {
    "accounts": _account_section,
    "devices": _devices_section,
    "pki": _certificates_section,
    "evidence": _network_section,
    "consents": _consents_section,
    "preferences": _preferences_section,
    "shared_with": _sharing_section,
    "staff_access": _staff_access_section,
    "requests": _requests_section,
}
