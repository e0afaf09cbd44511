"""Retention (P7, P13): what is kept after cancellation, legal holds, and the daily purge.

At cancellation, records the law makes us keep (a signer's identity behind their signatures and
certificates: 电子签名法 第24条 — five years after the certificate stops being valid; signing
records five years after completion by default, `signing_record_retention_years`) are copied out
of the person's vault fields and sealed under their *retention key* (`vault_service.
open_retention_sealer`), which the service itself cannot open. Every other personal field is then
crypto-shredded. The daily sweep releases holds whose period ended (destroying the retention key,
so the kept records become unreadable for good), anonymises closed requests past their period,
drops unconfirmed requests, and expires data copies, always skipping subjects or categories under
a legal hold.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from qianshu.accounts.purge import MIN_LOGIN_RECORD_DAYS
from qianshu.core.clock import Clock
from qianshu.core.errors import InvalidInput, NotFound
from qianshu.core.ids import new_id
from qianshu.core.logging import get_logger
from qianshu.core.runtime import Runtime, runtime_of
from qianshu.evidence import service as evidence_service
from qianshu.privacy.centre_models import (
    LegalHold,
    PrivacyRequest,
    RequestStep,
    RetainedRecord,
    RetentionHold,
)
from qianshu.vault import service as vault_service

log = get_logger("qianshu.privacy")

SWEEP_JOB = "privacy.retention_sweep"
SWEEP_HOUR_UTC = 20  # 04:00 in Beijing
SIGNING_RECORD = "signing_record"
KEY_STREAM = "privacy:retention_key"  # audit stream of the retention key pair's life
ACCOUNT_RECORDS = "account_records"  # accounts' sessions, one-time codes and login throttles
_RECORD_TABLE = "privacy_retained_record"
_UNCONFIRMED_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class RetainedItem:
    """A value the law makes us keep after cancellation, with the end of its period."""

    source: str  # domain.field, e.g. accounts.display_name
    value: str
    retain_until: datetime
    category: str = SIGNING_RECORD
    basis: str = "电子签名法 第24条"


@dataclass(frozen=True)
class RetentionPolicy:
    """How long one category of data is kept and what happens after."""

    category: str
    title: str
    title_en: str
    period: str
    action: str
    basis: str


RetentionSource = Callable[..., "list[RetainedItem]"]
_SOURCES: dict[str, RetentionSource] = {}


def register_retention_source(name: str, source: RetentionSource) -> None:
    """Register `source(*, session, clock, user_id) -> list[RetainedItem]` run before shredding."""
    _SOURCES[name] = source


def policies(*, session: Session) -> list[RetentionPolicy]:
    """Return the retention policy of each data category (shown to operators and in the docs)."""
    s = runtime_of(session).settings
    return [
        RetentionPolicy(
            "account",
            "账户与联系方式",
            "Account and contacts",
            "账户存续期间",
            "注销时加密销毁",
            "个人信息保护法 第47条",
        ),
        RetentionPolicy(
            SIGNING_RECORD,
            "签署记录与签署人身份",
            "Signing records and signer identity",
            f"完成或证书失效后 {s.signing_record_retention_years} 年",
            "留存密钥封存，到期销毁密钥",
            "电子签名法 第24条",
        ),
        RetentionPolicy(
            "network_log",
            "网络日志",
            "Network logs",
            f"{max(s.network_log_retention_days, 183)} 天",
            "到期删除",
            "网络安全法 第21条",
        ),
        RetentionPolicy(
            ACCOUNT_RECORDS,
            "登录记录、验证码与登录失败计数",
            "Sign-in sessions, one-time codes and login-failure counters",
            f"会话结束后 {max(s.session_retention_days, MIN_LOGIN_RECORD_DAYS)} 天；"
            f"验证码过期后 {s.otp_code_retention_days} 天；"
            f"失败计数 {s.login_throttle_retention_hours} 小时",
            "到期删除",
            "网络安全法 第21条；个人信息保护法 第19条",
        ),
        RetentionPolicy(
            "privacy_request",
            "个人信息请求记录",
            "Personal-information requests",
            f"结束后 {s.privacy_closed_request_retention_days} 天",
            "删除请求内容，保留处理记录",
            "个人信息保护法 第50条",
        ),
        RetentionPolicy(
            "data_export",
            "个人信息副本",
            "Data copies",
            f"{s.privacy_export_link_hours} 小时",
            "到期删除文件",
            "个人信息保护法 第45条",
        ),
    ]


# --- sealing at cancellation -------------------------------------------------------------------


def _sources() -> list[RetentionSource]:
    from qianshu.app import domain_modules

    found = list(_SOURCES.values())
    for module in domain_modules("service"):
        fn = getattr(module, "privacy_retained_for", None)
        if callable(fn):
            found.append(fn)
    return found


def _builtin_items(session: Session, clock: Clock, user_id: str) -> list[RetainedItem]:
    """Keep the signer's contact and name when they hold certificates (their signatures name them)."""
    from qianshu.accounts import service as accounts_service
    from qianshu.pki import service as pki_service

    certs = pki_service.list_certificates_for(session=session, subject_id=user_id)
    if not certs:
        return []
    years = runtime_of(session).settings.signing_record_retention_years
    now = clock.now()
    # A certificate stops being valid when it expires or (at cancellation) is revoked now.
    ends = [min(c.not_after, c.revoked_at or now) for c in certs]
    until = max(ends) + timedelta(days=round(365.25 * years))
    contact = accounts_service.get_contact(session=session, user_id=user_id)
    items = []
    for field, value in (
        ("display_name", contact.display_name),
        ("phone", contact.phone),
        ("email", contact.email),
    ):
        if value:
            items.append(RetainedItem(source=f"accounts.{field}", value=value, retain_until=until))
    return items


def seal_retained(*, session: Session, clock: Clock, user_id: str) -> int:
    """Copy what the law keeps under the person's retention key (before shredding); return how many."""
    items = _builtin_items(session, clock, user_id)
    for source in _sources():
        items.extend(source(session=session, clock=clock, user_id=user_id))
    if not items:
        return 0
    sealer = vault_service.open_retention_sealer(session=session, clock=clock, subject_id=user_id)
    holds: dict[str, RetentionHold] = {}
    for item in items:
        hold = holds.get(item.category)
        if hold is None:
            hold = RetentionHold(
                id=new_id("rth"),
                subject_id=user_id,
                category=item.category,
                basis=item.basis[:120],
                retain_until=item.retain_until,
                created_at=clock.now(),
            )
            holds[item.category] = hold
            session.add(hold)
            session.flush()  # the hold row first: records refer to it
        hold.retain_until = max(hold.retain_until, item.retain_until)
        record_id = new_id("rtr")
        sealed = sealer.seal(table=_RECORD_TABLE, column="sealed", row_id=record_id, value=item.value.encode())
        session.add(
            RetainedRecord(
                id=record_id,
                hold_id=hold.id,
                subject_id=user_id,
                source=item.source[:120],
                sealed=sealed,
                created_at=clock.now(),
            )
        )
    session.flush()
    ensure_sweep_scheduled(session=session, clock=clock)
    return len(items)


def open_retained_records(*, session: Session, user_id: str, private_key: bytes) -> dict[str, list[str]]:
    """Open a person's retained records with the offline retention private key (lawful disclosure)."""
    out: dict[str, list[str]] = {}
    for row in session.scalars(select(RetainedRecord).where(RetainedRecord.subject_id == user_id)):
        value = vault_service.open_retained(
            session=session,
            subject_id=user_id,
            table=_RECORD_TABLE,
            column="sealed",
            row_id=row.id,
            blob=row.sealed,
            private_key=private_key,
        )
        out.setdefault(row.source, []).append(value.decode())
    return out


# --- the retention key pair: the platform keeps the public half, the operator the private one -----


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def _check_offline_path(runtime: Runtime, out: Path) -> Path:
    target = out.expanduser().resolve()
    settings = runtime.settings
    platform = [settings.data_dir, settings.secrets_dir, vault_service.retention_key_dir(runtime)]
    if any(_inside(target, folder) for folder in platform):
        raise InvalidInput(
            "私钥不能放在平台的数据或密钥目录中，请选择离线位置（U 盘、保险柜中的介质）",
            detail_en="The private key must not go into the platform's data or secrets folder: choose an offline place",
        )
    if target.exists():
        raise InvalidInput("该文件已存在，不会覆盖", detail_en="That file exists already; it is never overwritten")
    if not target.parent.is_dir():
        raise InvalidInput("目标文件夹不存在", detail_en="The target folder does not exist")
    return target


def _write_once(target: Path, pem: bytes) -> None:
    """Write the private key to a new `target` (0600, never replacing a file); a failed write leaves no file.

    A plain exclusive create, not a temporary file linked into place: the offline media the key is
    meant for (FAT/exFAT USB sticks) have no hard links.
    """
    created = False
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        created = True
        try:
            if os.write(fd, pem) != len(pem):
                raise OSError("short write")
            os.fsync(fd)
        finally:
            os.close(fd)
    except FileExistsError:
        raise InvalidInput(
            "该文件已存在，不会覆盖", detail_en="That file exists already; it is never overwritten"
        ) from None
    except OSError:
        if created:
            with contextlib.suppress(OSError):
                target.unlink()
        raise InvalidInput(
            "无法写入私钥文件（请检查目标文件夹的权限和空间），留存密钥未更换",
            detail_en="Could not write the private key file (check the folder's permissions and space); "
            "the retention key was not changed",
        ) from None
    with contextlib.suppress(OSError):  # make the new directory entry durable too
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _audit_key(runtime: Runtime, action: str, kid: str, written: bool) -> None:
    with runtime.transaction() as session:
        evidence_service.record_event(
            session=session,
            clock=runtime.clock,
            stream=KEY_STREAM,
            actor="cli",
            action=action,
            object_id=kid,
            data={"kid": kid, "handed_over": "file" if written else "printed"},
        )


def create_retention_key(*, runtime: Runtime, out: Path | None, replace: bool = False) -> tuple[str, bytes]:
    """Make the retention key pair and hand the private key over once: to `out`, or returned to print.

    The platform keeps only the public key, so it can seal retained records but never open them.
    """
    target = _check_offline_path(runtime, out) if out is not None else None
    if replace and vault_service.retention_key_status(runtime=runtime).private_key_on_platform:
        raise InvalidInput(
            "平台上仍有旧的留存私钥：请先运行 qianshu privacy retention-key hand-over 交出它，再更换密钥",
            detail_en="The old retention private key is still on the platform: hand it over first "
            "(`qianshu privacy retention-key hand-over`), then replace the key",
        )

    def _hand_over(_kid: str, pem: bytes) -> None:
        if target is not None:
            _write_once(target, pem)  # the key goes out before it comes into force

    try:
        kid, pem = vault_service.create_retention_key(runtime=runtime, replace=replace, hand_over=_hand_over)
    except OSError:
        if target is not None:  # installing failed: the file holds a key never in force
            with contextlib.suppress(OSError):
                target.unlink()
        raise
    _audit_key(runtime, "privacy.retention_key_created", kid, target is not None)
    return kid, pem


def hand_over_platform_key(*, runtime: Runtime, out: Path | None) -> tuple[str, bytes]:
    """Hand a private key an older version left on the platform to the operator, then erase it there."""
    target = _check_offline_path(runtime, out) if out is not None else None
    found = vault_service.take_platform_retention_private_key(runtime=runtime)
    if found is None:
        raise NotFound("平台上没有遗留的留存私钥", detail_en="No retention private key is left on the platform")
    kid, pem = found
    if target is not None:
        _write_once(target, pem)
    vault_service.erase_platform_retention_private_key(runtime=runtime)
    _audit_key(runtime, "privacy.retention_key_handed_over", kid, target is not None)
    return kid, pem


def list_holds(*, session: Session, subject_id: str | None = None) -> list[RetentionHold]:
    """Return retention holds (live first)."""
    query = select(RetentionHold).order_by(RetentionHold.released_at.is_not(None), RetentionHold.retain_until)
    if subject_id is not None:
        query = query.where(RetentionHold.subject_id == subject_id)
    return list(session.scalars(query))


# --- legal holds -------------------------------------------------------------------------------


def place_legal_hold(
    *,
    session: Session,
    clock: Clock,
    actor: str,
    reference: str,
    subject_id: str | None = None,
    category: str | None = None,
) -> str:
    """Stop the sweep from purging a subject's (or a category's) data, citing a case reference."""
    reference = reference.strip()
    if not reference or len(reference) > 120:
        raise InvalidInput("请填写案号或文书编号（不超过 120 字）", detail_en="Give a case or order reference")
    if (subject_id is None) == (category is None):
        raise InvalidInput("请指定一个主体或一个数据类别", detail_en="Name either a subject or a category")
    hold_id = new_id("lgh")
    session.add(
        LegalHold(
            id=hold_id,
            subject_id=subject_id,
            category=category,
            reference=reference,
            placed_by=actor,
            placed_at=clock.now(),
        )
    )
    session.flush()
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream="system",
        actor=actor,
        action="privacy.legal_hold_placed",
        object_id=hold_id,
        data={"subject": subject_id, "category": category},
    )
    return hold_id


def release_legal_hold(*, session: Session, clock: Clock, actor: str, hold_id: str) -> None:
    """Lift a legal hold; the next sweep applies the normal periods again."""
    row = session.get(LegalHold, hold_id)
    if row is None or row.released_at is not None:
        raise NotFound("未找到生效中的法律保全", detail_en="No such active legal hold")
    row.released_at, row.released_by = clock.now(), actor
    session.flush()
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream="system",
        actor=actor,
        action="privacy.legal_hold_released",
        object_id=hold_id,
    )


def list_legal_holds(*, session: Session, active_only: bool = True) -> list[LegalHold]:
    """Return legal holds, newest first."""
    query = select(LegalHold).order_by(LegalHold.placed_at.desc())
    if active_only:
        query = query.where(LegalHold.released_at.is_(None))
    return list(session.scalars(query))


def _held(session: Session, *, subject_id: str | None = None, category: str | None = None) -> bool:
    conditions = []
    if subject_id is not None:
        conditions.append(LegalHold.subject_id == subject_id)
    if category is not None:
        conditions.append(LegalHold.category == category)
    found = session.scalar(select(LegalHold.id).where(LegalHold.released_at.is_(None), or_(*conditions)).limit(1))
    return found is not None


# --- the sweep ---------------------------------------------------------------------------------


def _release_expired_holds(session: Session, clock: Clock) -> int:
    now = clock.now()
    if _held(session, category=SIGNING_RECORD):
        return 0
    expired = list(
        session.scalars(
            select(RetentionHold).where(RetentionHold.released_at.is_(None), RetentionHold.retain_until <= now)
        )
    )
    released = 0
    for hold in expired:
        if _held(session, subject_id=hold.subject_id):
            continue
        session.execute(delete(RetainedRecord).where(RetainedRecord.hold_id == hold.id))
        hold.released_at = now
        released += 1
        live = session.scalar(
            select(RetentionHold.id)
            .where(RetentionHold.subject_id == hold.subject_id, RetentionHold.released_at.is_(None))
            .limit(1)
        )
        if live is None:
            vault_service.destroy_retention_key(session=session, clock=clock, subject_id=hold.subject_id)
    session.flush()
    return released


def _anonymise_closed_requests(session: Session, clock: Clock) -> int:
    if _held(session, category="privacy_request"):
        return 0
    days = runtime_of(session).settings.privacy_closed_request_retention_days
    cutoff = clock.now() - timedelta(days=days)
    rows = list(
        session.scalars(
            select(PrivacyRequest).where(
                PrivacyRequest.closed_at.is_not(None),
                PrivacyRequest.closed_at < cutoff,
                or_(PrivacyRequest.details_enc.is_not(None), PrivacyRequest.resolution_note_enc.is_not(None)),
            )
        )
    )
    count = 0
    for row in rows:
        if _held(session, subject_id=row.user_id):
            continue
        row.details_enc = row.resolution_note_enc = None
        session.execute(update(RequestStep).where(RequestStep.request_id == row.id).values(note_enc=None))
        count += 1
    session.flush()
    return count


def _drop_unconfirmed(session: Session, clock: Clock) -> int:
    cutoff = clock.now() - _UNCONFIRMED_AFTER
    ids = list(
        session.scalars(
            select(PrivacyRequest.id).where(
                PrivacyRequest.status == "awaiting_code", PrivacyRequest.created_at < cutoff
            )
        )
    )
    if ids:
        from qianshu.privacy.centre_models import PartyDecision

        session.execute(delete(RequestStep).where(RequestStep.request_id.in_(ids)))
        session.execute(delete(PartyDecision).where(PartyDecision.request_id.in_(ids)))
        session.execute(delete(PrivacyRequest).where(PrivacyRequest.id.in_(ids)))
        session.flush()
    return len(ids)


def _held_subjects(session: Session) -> set[str]:
    rows = session.scalars(
        select(LegalHold.subject_id).where(LegalHold.released_at.is_(None), LegalHold.subject_id.is_not(None))
    )
    return {str(r) for r in rows}


def _purge_account_records(session: Session, clock: Clock) -> dict[str, int]:
    from qianshu.accounts import service as accounts_service

    purged = (
        {kind: 0 for kind in ("one_time_codes", "sessions", "login_throttles")}
        if _held(session, category=ACCOUNT_RECORDS)
        else accounts_service.purge_expired_records(session=session, clock=clock, keep_user_ids=_held_subjects(session))
    )
    return {f"account_{kind}_purged": count for kind, count in purged.items()}


def run_sweep(*, session: Session, clock: Clock) -> dict[str, int]:
    """Apply every retention period now (legal holds respected); return what was done per category."""
    from qianshu.privacy import export

    result = {
        **_purge_account_records(session, clock),
        "retention_holds_released": _release_expired_holds(session, clock),
        "requests_anonymised": _anonymise_closed_requests(session, clock),
        "unconfirmed_requests_dropped": _drop_unconfirmed(session, clock),
        "exports_expired": 0
        if _held(session, category="data_export")
        else export.expire_exports(session=session, clock=clock),
    }
    if any(result.values()):
        evidence_service.record_event(
            session=session,
            clock=clock,
            stream="system",
            actor="system",
            action="privacy.retention_swept",
            data=result,
        )
        log.info("privacy_retention_swept", **result)
    return result


def next_sweep_time(now: datetime) -> datetime:
    """Return the next daily sweep slot (20:00 UTC, 04:00 in Beijing) after `now`."""
    slot = now.replace(hour=SWEEP_HOUR_UTC, minute=0, second=0, microsecond=0)
    return slot if slot > now else slot + timedelta(days=1)


def ensure_sweep_scheduled(*, session: Session, clock: Clock) -> str:
    """Queue the next daily sweep (once per day); return the job id."""
    from qianshu.jobs import service as jobs_service

    now = clock.now()
    run_at = next_sweep_time(now)
    return jobs_service.enqueue(
        session=session,
        clock=clock,
        kind=SWEEP_JOB,
        payload={},
        delay=run_at - now,
        dedupe_key=f"{SWEEP_JOB}:{run_at.date().isoformat()}",
    )
