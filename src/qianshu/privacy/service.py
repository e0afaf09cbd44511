"""The consent ledger: policy versions, their acceptance, and separate consent per purpose.

Promises kept here (docs/promises.md): P1 — people accept the policy before use and again at
their next login after a *major* update (`needs_reconsent`); P2/P5 — sensitive purposes need
their own consent, which can be withdrawn at any time (`grant_consent`, `withdraw_consent`,
`has_consent`). Every row is append-only; every change writes an audit event in the same
transaction, and the request's IP address and user agent go encrypted to the network log.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qianshu.config import Settings
from qianshu.core.auth import PolicyConsentRequired
from qianshu.core.clock import Clock
from qianshu.core.deps import RequestContext
from qianshu.core.errors import Conflict, InvalidInput, NotFound
from qianshu.core.ids import is_id, new_id
from qianshu.core.logging import get_logger
from qianshu.core.runtime import Runtime, runtime_of
from qianshu.evidence import service as evidence_service
from qianshu.privacy.models import ConsentRecord, PolicyAcceptance, PrivacyPolicy
from qianshu.privacy.purposes import PURPOSES
from qianshu.privacy.schemas import (
    AcceptanceRead,
    ConsentRead,
    ConsentState,
    MyConsents,
    PolicyRead,
    PolicySummary,
)

log = get_logger("qianshu.privacy")

POLICY_DIR = Path(__file__).parent / "policies"
FIRST_VERSION = "1.0"
FIRST_POLICY_FILE = "v1.zh-CN.md"
MAX_POLICY_CHARS = 200_000
_VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+-]{0,31}$")
_RESERVED_VERSIONS = frozenset({"current", "latest"})
_PLACEHOLDER_RE = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


class PolicyNotFound(NotFound):
    """No policy version by that name or id."""

    slug = "policy-not-found"
    title = "未找到该版本的隐私政策"
    title_en = "No such privacy policy version"


class PolicyVersionExists(Conflict):
    """A policy with that version label was already published."""

    slug = "policy-version-exists"
    title = "该版本号已发布"
    title_en = "That policy version was already published"


class UnknownPurpose(InvalidInput):
    """The consent purpose is not one the platform knows."""

    slug = "unknown-purpose"
    title = "未知的同意用途"
    title_en = "Unknown consent purpose"


# --- policies -------------------------------------------------------------------------------


def _summary(row: PrivacyPolicy) -> PolicySummary:
    return PolicySummary.model_validate(row)


def _read(row: PrivacyPolicy) -> PolicyRead:
    return PolicyRead.model_validate(row)


def _current_row(session: Session) -> PrivacyPolicy | None:
    return session.scalar(select(PrivacyPolicy).order_by(PrivacyPolicy.seq.desc()).limit(1))


def current_policy(*, session: Session) -> PolicyRead:
    """Return the policy in force (the newest published version)."""
    row = _current_row(session)
    if row is None:
        raise PolicyNotFound("尚未发布隐私政策", detail_en="No privacy policy has been published yet")
    return _read(row)


def get_policy(*, session: Session, version: str) -> PolicyRead | None:
    """Return the policy with version label `version`, or None."""
    row = session.scalar(select(PrivacyPolicy).where(PrivacyPolicy.version == version))
    return None if row is None else _read(row)


def get_policy_or_raise(*, session: Session, version: str) -> PolicyRead:
    """Return the policy `version` or raise PolicyNotFound."""
    found = get_policy(session=session, version=version)
    if found is None:
        raise PolicyNotFound()
    return found


def list_policies(*, session: Session) -> list[PolicySummary]:
    """Return every published version, newest first."""
    rows = session.scalars(select(PrivacyPolicy).order_by(PrivacyPolicy.seq.desc()))
    return [_summary(row) for row in rows]


def fill_placeholders(*, text: str, settings: Settings) -> str:
    """Replace `{{operator_name}}`-style placeholders with this instance's settings."""
    values = {
        "operator_name": settings.operator_name,
        "site_name": settings.site_name,
        "contact_email": settings.privacy_contact_email,
        "public_base_url": settings.public_base_url,
        "network_log_retention_days": str(settings.network_log_retention_days),
        "signing_record_retention_years": str(settings.signing_record_retention_years),
        "min_age": str(settings.min_age),
    }
    unknown = sorted({m.group(1) for m in _PLACEHOLDER_RE.finditer(text)} - values.keys())
    if unknown:
        names = ", ".join(unknown)
        raise InvalidInput(
            f"政策文本含未知占位符：{names}", detail_en=f"Unknown placeholders in the policy text: {names}"
        )
    return _PLACEHOLDER_RE.sub(lambda m: values[m.group(1)], text)


def publish_policy(
    *,
    session: Session,
    clock: Clock,
    actor: str,
    version: str,
    text: str,
    major: bool,
    summary: str | None = None,
    context: RequestContext | None = None,
) -> PolicyRead:
    """Publish a new policy version (placeholders filled); a major one asks everyone to accept again."""
    version = version.strip()
    if not _VERSION_RE.fullmatch(version) or version.lower() in _RESERVED_VERSIONS:
        raise InvalidInput(
            "版本号只能包含字母、数字和 . + -，不超过 32 个字符",
            detail_en="The version may hold letters, digits and . + - only, at most 32 characters",
        )
    body = fill_placeholders(text=text.replace("\r\n", "\n").strip(), settings=runtime_of(session).settings)
    if not body:
        raise InvalidInput("政策文本不能为空", detail_en="The policy text is empty")
    if len(body) > MAX_POLICY_CHARS or "\x00" in body:
        raise InvalidInput(
            "政策文本过长或含非法字符", detail_en="The policy text is too long or holds a NUL character"
        )
    note = (summary or "").strip() or None
    if note is not None and len(note) > 2000:
        raise InvalidInput("变更说明不超过 2000 字", detail_en="The change summary is over 2000 characters")
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    policy_id = new_id("pol")
    evidence_service.lock_stream(session=session, stream="system")
    if session.scalar(select(PrivacyPolicy.id).where(PrivacyPolicy.version == version)) is not None:
        raise PolicyVersionExists(
            f"版本 {version} 已发布", detail_en=f"Version {version} was already published"
        )
    current = _current_row(session)
    if current is not None and current.text_sha256 == digest:
        raise InvalidInput(
            "新版本与当前版本内容相同", detail_en="The text is the same as the current version's"
        )
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream="system",
        actor=actor,
        action="privacy.policy_published",
        object_id=policy_id,
        data={"version": version, "major": major, "text_sha256": digest},
        context=context,
    )
    row = PrivacyPolicy(
        id=policy_id,
        seq=(current.seq + 1) if current is not None else 1,
        version=version,
        major=major,
        text=body,
        text_sha256=digest,
        summary=note,
        published_at=clock.now(),
        published_by=actor,
    )
    session.add(row)
    session.flush()
    log.info("policy_published", policy_id=policy_id, version=version, major=major)
    return _read(row)


def seed_policies(*, runtime: Runtime) -> str | None:
    """Startup hook: publish the bundled first policy version unless one exists."""
    with runtime.transaction() as session:
        if session.scalar(select(func.count()).select_from(PrivacyPolicy)):
            return None
    text = (POLICY_DIR / FIRST_POLICY_FILE).read_text(encoding="utf-8")
    try:
        with runtime.transaction() as session:
            publish_policy(
                session=session,
                clock=runtime.clock,
                actor="system",
                version=FIRST_VERSION,
                text=text,
                major=True,
                summary="首次发布",
            )
    except (IntegrityError, PolicyVersionExists):
        return None  # another process seeded it at the same moment
    return f"已发布隐私政策 {FIRST_VERSION} / published privacy policy {FIRST_VERSION}"


# --- acceptance -----------------------------------------------------------------------------


def _check_user(user_id: str) -> None:
    if not is_id(user_id, "usr"):
        raise InvalidInput("用户标识无效", detail_en="Invalid user id")


def _policy_row(session: Session, version_id: str) -> PrivacyPolicy:
    if version_id.startswith("pol_"):
        row = session.get(PrivacyPolicy, version_id)
    else:
        row = session.scalar(select(PrivacyPolicy).where(PrivacyPolicy.version == version_id))
    if row is None:
        raise PolicyNotFound()
    return row


def record_policy_acceptance(
    *, session: Session, clock: Clock, user_id: str, version_id: str, context: RequestContext | None
) -> None:
    """Record that `user_id` accepted the policy `version_id` (its id, or its version label)."""
    _check_user(user_id)
    policy = _policy_row(session, version_id)
    stream = f"user:{user_id}"
    evidence_service.lock_stream(session=session, stream=stream)
    already = session.scalar(
        select(PolicyAcceptance.id).where(
            PolicyAcceptance.user_id == user_id, PolicyAcceptance.policy_id == policy.id
        )
    )
    if already is not None:
        return
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream=stream,
        actor=user_id,
        action="privacy.policy_accepted",
        object_id=policy.id,
        data={"version": policy.version, "major": policy.major, "text_sha256": policy.text_sha256},
        context=context,
    )
    session.add(
        PolicyAcceptance(
            id=new_id("pac"),
            user_id=user_id,
            policy_id=policy.id,
            accepted_at=clock.now(),
            request_id=context.request_id[:64] if context is not None else None,
            network_log_id=evidence_service.record_network_log(session=session, clock=clock, context=context),
        )
    )
    session.flush()


def needs_reconsent(*, session: Session, user_id: str) -> bool:
    """Tell whether `user_id` must accept the policy before going on.

    True when the person has accepted neither the newest *major* version (the first version counts
    as major) nor any version published after it; a minor update never asks again.
    """
    baseline = session.scalar(select(func.max(PrivacyPolicy.seq)).where(PrivacyPolicy.major.is_(True)))
    if baseline is None:
        baseline = session.scalar(select(func.min(PrivacyPolicy.seq)))
        if baseline is None:
            return False  # nothing published: nothing to accept
    accepted = session.scalar(
        select(PolicyAcceptance.id)
        .join(PrivacyPolicy, PrivacyPolicy.id == PolicyAcceptance.policy_id)
        .where(PolicyAcceptance.user_id == user_id, PrivacyPolicy.seq >= baseline)
        .limit(1)
    )
    return accepted is None


def list_acceptances(*, session: Session, user_id: str) -> list[AcceptanceRead]:
    """Return the policy versions `user_id` accepted, oldest first."""
    rows = session.execute(
        select(
            PolicyAcceptance.id,
            PolicyAcceptance.policy_id,
            PrivacyPolicy.version,
            PolicyAcceptance.accepted_at,
        )
        .join(PrivacyPolicy, PrivacyPolicy.id == PolicyAcceptance.policy_id)
        .where(PolicyAcceptance.user_id == user_id)
        .order_by(PrivacyPolicy.seq)
    )
    return [AcceptanceRead(id=r[0], policy_id=r[1], version=r[2], accepted_at=r[3]) for r in rows]


# --- consent per purpose --------------------------------------------------------------------


def _check_purpose(purpose: str) -> None:
    if purpose not in PURPOSES:
        raise UnknownPurpose(
            f"未知的同意用途：{purpose[:64]}", detail_en=f"Unknown consent purpose: {purpose[:64]}"
        )


def _latest_action(session: Session, user_id: str, purpose: str) -> str | None:
    return session.scalar(
        select(ConsentRecord.action)
        .where(ConsentRecord.user_id == user_id, ConsentRecord.purpose == purpose)
        .order_by(ConsentRecord.seq.desc())
        .limit(1)
    )


def _decide(
    *, session: Session, clock: Clock, user_id: str, purpose: str, action: str, context: RequestContext | None
) -> None:
    _check_user(user_id)
    _check_purpose(purpose)
    if action == "grant" and needs_reconsent(session=session, user_id=user_id):
        raise PolicyConsentRequired(
            "请先阅读并同意现行隐私政策，再授予新的同意",
            detail_en="Accept the privacy policy in force before granting new consent",
            accept_url="/privacy/accept",
        )
    stream = f"user:{user_id}"
    evidence_service.lock_stream(session=session, stream=stream)
    current = _latest_action(session, user_id, purpose)
    if current == action or (action == "withdraw" and current is None):
        return  # already so: the ledger records changes only
    last_seq = (
        session.scalar(select(func.max(ConsentRecord.seq)).where(ConsentRecord.user_id == user_id)) or 0
    )
    policy = _current_row(session)
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream=stream,
        actor=user_id,
        action="privacy.consent_granted" if action == "grant" else "privacy.consent_withdrawn",
        data={"purpose": purpose},
        context=context,
    )
    session.add(
        ConsentRecord(
            id=new_id("cns"),
            user_id=user_id,
            seq=last_seq + 1,
            purpose=purpose,
            action=action,
            policy_id=policy.id if policy is not None else None,
            recorded_at=clock.now(),
            request_id=context.request_id[:64] if context is not None else None,
            network_log_id=evidence_service.record_network_log(session=session, clock=clock, context=context),
        )
    )
    session.flush()
    log.info("consent_recorded", user_id=user_id, purpose=purpose, action=action)
    if action == "withdraw":
        _notify_withdrawal(session=session, clock=clock, user_id=user_id, purpose=purpose, context=context)


# Domains whose service reacts to a withdrawal in the same transaction (P5: it stops the processing).
_WITHDRAWAL_LISTENERS = ("qianshu.identity.service", "qianshu.orgs.service", "qianshu.contracts.service")


def _notify_withdrawal(
    *, session: Session, clock: Clock, user_id: str, purpose: str, context: RequestContext | None
) -> None:
    import importlib

    for name in _WITHDRAWAL_LISTENERS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        listener = getattr(module, "on_consent_withdrawn", None)
        if listener is not None:
            listener(session=session, clock=clock, user_id=user_id, purpose=purpose, context=context)


def grant_consent(
    *, session: Session, clock: Clock, user_id: str, purpose: str, context: RequestContext | None
) -> None:
    """Record that `user_id` consents to `purpose` (no-op when granted; needs the policy accepted)."""
    _decide(session=session, clock=clock, user_id=user_id, purpose=purpose, action="grant", context=context)


def withdraw_consent(
    *, session: Session, clock: Clock, user_id: str, purpose: str, context: RequestContext | None
) -> None:
    """Record that `user_id` withdraws consent to `purpose`; earlier processing stays lawful."""
    _decide(
        session=session, clock=clock, user_id=user_id, purpose=purpose, action="withdraw", context=context
    )


def change_consent(
    *, session: Session, clock: Clock, user_id: str, purpose: str, grant: bool, context: RequestContext | None
) -> None:
    """Grant (`grant=True`) or withdraw consent to `purpose`; withdrawing is always possible."""
    action = "grant" if grant else "withdraw"
    _decide(session=session, clock=clock, user_id=user_id, purpose=purpose, action=action, context=context)


def has_consent(*, session: Session, user_id: str, purpose: str) -> bool:
    """Tell whether `user_id`'s newest decision on `purpose` is a grant."""
    _check_purpose(purpose)
    return _latest_action(session, user_id, purpose) == "grant"


def list_consents(*, session: Session, user_id: str) -> list[ConsentRead]:
    """Return every grant and withdrawal of `user_id`, oldest first."""
    rows = session.execute(
        select(ConsentRecord, PrivacyPolicy.version)
        .outerjoin(PrivacyPolicy, PrivacyPolicy.id == ConsentRecord.policy_id)
        .where(ConsentRecord.user_id == user_id)
        .order_by(ConsentRecord.seq)
    )
    return [
        ConsentRead(
            id=rec.id,
            purpose=rec.purpose,
            action="grant" if rec.action == "grant" else "withdraw",
            policy_version=version,
            recorded_at=rec.recorded_at,
        )
        for rec, version in rows
    ]


def consent_states(*, session: Session, user_id: str, locale: str = "zh-CN") -> list[ConsentState]:
    """Return where `user_id` stands on every purpose, in the platform's purpose order."""
    latest: dict[str, ConsentRead] = {}
    for record in list_consents(session=session, user_id=user_id):
        latest[record.purpose] = record
    english = locale.startswith("en")
    states = []
    for key, purpose in PURPOSES.items():
        last = latest.get(key)
        states.append(
            ConsentState(
                purpose=key,
                label=purpose.label_en if english else purpose.label,
                description=purpose.description_en if english else purpose.description,
                sensitive=purpose.sensitive,
                granted=last is not None and last.action == "grant",
                since=last.recorded_at if last is not None else None,
            )
        )
    return states


def my_consents(*, session: Session, user_id: str, locale: str = "zh-CN") -> MyConsents:
    """Return a person's consent overview: policy status, each purpose, and the full history."""
    return MyConsents(
        needs_reconsent=needs_reconsent(session=session, user_id=user_id),
        current_policy=current_policy(session=session),
        accepted=list_acceptances(session=session, user_id=user_id),
        purposes=consent_states(session=session, user_id=user_id, locale=locale),
        history=list_consents(session=session, user_id=user_id),
    )


# --- privacy centre and compliance operations (issue: privacy centre) ----------------------------
# The sharing register (P9) and the staff-access log (P10) live in their own modules; other domains
# reach them here, like the rest of privacy's public functions.
from qianshu.privacy.sharing import list_sharing as list_sharing  # noqa: E402
from qianshu.privacy.sharing import record_sharing as record_sharing  # noqa: E402
from qianshu.privacy.staff import list_staff_access as list_staff_access  # noqa: E402
from qianshu.privacy.staff import record_staff_access as record_staff_access  # noqa: E402
