"""Corporate bank account check by micro-deposit (打款验证, promise A6).

The platform sends a random amount of 0.01 to `micro_deposit_max_cents`/100 yuan, with a memo
`签署验证<6 digits>`, to the account through the bank provider; the agent reads the amount off the
statement and types it in. The amount is stored only encrypted. Each check allows
`micro_deposit_max_attempts` answers and expires after `micro_deposit_ttl_hours`; a new check can
be started `micro_deposit_starts_per_day` times a day.

Attempts are reserved in their own committed transaction before the answer is compared, so
neither a failed request's rollback nor parallel requests can buy extra guesses. The provider is
called before anything is written, so a refused transfer leaves no trace but its rate-limit count.
"""

from __future__ import annotations

import hmac
import re
import secrets
import unicodedata
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.deps import RequestContext
from qianshu.core.errors import InvalidInput
from qianshu.core.ids import new_id
from qianshu.core.runtime import Runtime, runtime_of
from qianshu.orgs import applications
from qianshu.orgs.errors import DepositLocked, DepositMismatch, OrgStateConflict
from qianshu.orgs.models import MicroDeposit, Org
from qianshu.orgs.providers import BankTransfers, build_bank_transfers
from qianshu.orgs.records import DRAFT, VERIFIED, audit, is_expired, lock_org, open_text, org_for, seal_text
from qianshu.orgs.roles import Permission
from qianshu.orgs.schemas import DepositConfirm, DepositRead, DepositStart

TABLE = "orgs_micro_deposit"
SENT, LOCKED, SUPERSEDED = "sent", "locked", "superseded"
_ACCOUNT = re.compile(r"^[0-9]{8,30}$")
_AMOUNT = re.compile(r"^[0-9]{1,6}(\.[0-9]{1,2})?$")


def bank_transfers(runtime: Runtime) -> BankTransfers:
    """Return the runtime's bank backend (built once from the settings)."""
    return runtime.component("orgs.bank_transfers", lambda rt: build_bank_transfers(rt.settings, rt.clock))


def _clean_account(value: str) -> str:
    account = "".join(ch for ch in unicodedata.normalize("NFKC", value) if not ch.isspace() and ch != "-")
    if not _ACCOUNT.fullmatch(account):
        raise InvalidInput("对公账号应为 8 至 30 位数字", detail_en="A corporate account number has 8 to 30 digits")
    return account


def parse_amount(value: str) -> int:
    """Return a yuan amount (`0.37`, `1`, `１.０５`) in cents; raise InvalidInput when malformed."""
    text = unicodedata.normalize("NFKC", value).strip().replace("¥", "").replace("元", "").strip()
    if not _AMOUNT.fullmatch(text):
        raise InvalidInput("请输入收到的金额，例如 0.37", detail_en="Enter the amount received, for example 0.37")
    try:
        return int((Decimal(text) * 100).to_integral_exact())
    except InvalidOperation:  # pragma: no cover - the pattern admits only plain decimals
        raise InvalidInput("金额格式不正确", detail_en="Malformed amount") from None


def _read(session: Session, row: MicroDeposit) -> DepositRead:
    max_attempts = runtime_of(session).settings.micro_deposit_max_attempts
    return DepositRead(
        id=row.id,
        status=row.status,
        bank_account=f"**** {row.account_last4}",
        memo_code=row.memo_code,
        attempts_left=max(0, max_attempts - row.attempts) if row.status == SENT else 0,
        created_at=row.created_at,
        expires_at=row.expires_at,
        verified_at=row.verified_at,
    )


def _latest(session: Session, org_id: str) -> MicroDeposit | None:
    return session.scalar(
        select(MicroDeposit)
        .where(MicroDeposit.org_id == org_id, MicroDeposit.status != SUPERSEDED)
        .order_by(MicroDeposit.created_at.desc(), MicroDeposit.id.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )


def get_deposit(*, session: Session, org_id: str, user_id: str) -> DepositRead | None:
    """Return the organisation's current micro-deposit check, or None."""
    org_for(session, org_id=org_id, user_id=user_id, permission=Permission.VERIFY)
    row = _latest(session, org_id)
    return _read(session, row) if row else None


def _record_sharing(
    session: Session, clock: Clock, *, org: Org, deposit_id: str, actor: str, context: RequestContext | None
) -> None:
    """Write the transfer of account details to the bank provider into the sharing register (P9)."""
    from qianshu.privacy import service as privacy_service

    privacy_service.record_sharing(
        session=session,
        clock=clock,
        subject_id=org.id,
        recipient=runtime_of(session).settings.bank_provider_name,
        recipient_kind="bank",
        fields=["org_name", "bank_name", "bank_account_number"],
        purpose="企业认证：对公账户打款验证 (enterprise verification: corporate account micro-deposit)",
        legal_basis="contract",
        object_id=deposit_id,
        actor=actor,
        context=context,
    )


def start_micro_deposit(
    *,
    session: Session,
    clock: Clock,
    actor_id: str,
    org_id: str,
    data: DepositStart,
    context: RequestContext | None = None,
) -> DepositRead:
    """Send a random small amount to the corporate account through the bank provider."""
    org, _member = org_for(session, org_id=org_id, user_id=actor_id, permission=Permission.VERIFY)
    if org.status != DRAFT:
        raise OrgStateConflict("企业已完成认证", detail_en="The organisation is verified already")
    if org.bank_status == VERIFIED:
        raise OrgStateConflict("对公账户已验证", detail_en="The bank account is verified already")
    account = _clean_account(data.account_number)
    bank_name = applications.clean_text(data.bank_name, max_len=60, what="开户银行", what_en="bank name")
    runtime = runtime_of(session)
    settings = runtime.settings
    applications.rate_limit(session, f"orgs.deposit:{org.id}", settings.micro_deposit_starts_per_day, 24 * 3600)
    amount = secrets.randbelow(max(1, settings.micro_deposit_max_cents)) + 1
    memo_code = f"{secrets.randbelow(10**6):06d}"
    deposit_id = new_id("dep")
    receipt = bank_transfers(runtime).send_micro_deposit(
        reference=deposit_id,
        account_name=org.name,
        account_number=account,
        bank_name=bank_name,
        amount_cents=amount,
        memo=f"签署验证{memo_code}",
    )
    org = lock_org(session, org.id)
    session.execute(
        update(MicroDeposit)
        .where(MicroDeposit.org_id == org.id, MicroDeposit.status.in_((SENT, LOCKED)))
        .values(status=SUPERSEDED)
    )
    now = clock.now()

    def sealed(column: str, value: str) -> bytes:
        return seal_text(session, org_id=org.id, table=TABLE, column=column, row_id=deposit_id, value=value)

    row = MicroDeposit(
        id=deposit_id,
        org_id=org.id,
        status=SENT,
        bank_name_enc=sealed("bank_name", bank_name),
        account_number_enc=sealed("account_number", account),
        account_last4=account[-4:],
        amount_enc=sealed("amount", str(amount)),
        memo_code=memo_code,
        provider_transfer_id=receipt.transfer_id,
        attempts=0,
        started_by=actor_id,
        created_at=now,
        expires_at=now + timedelta(hours=settings.micro_deposit_ttl_hours),
    )
    session.add(row)
    org.bank_status, org.updated_at = SENT, now
    session.flush()
    audit(
        session,
        clock,
        org_id=org.id,
        actor=actor_id,
        action="org.bank_deposit_sent",
        object_id=row.id,
        data={"transfer_id": receipt.transfer_id},
        context=context,
    )
    _record_sharing(session, clock, org=org, deposit_id=row.id, actor=actor_id, context=context)
    return _read(session, row)


def _reserve_attempt(runtime: Runtime, clock: Clock, *, deposit_id: str) -> int:
    """Count one answer in its own transaction; return the number used, or raise DepositLocked."""
    with runtime.transaction() as s:
        row = s.scalar(select(MicroDeposit).where(MicroDeposit.id == deposit_id).with_for_update())
        assert row is not None
        if row.status != SENT or is_expired(row.expires_at, clock.now()):
            raise _locked()
        if row.attempts >= runtime.settings.micro_deposit_max_attempts:
            raise _locked()
        row.attempts += 1
        return row.attempts


def _lock(runtime: Runtime, clock: Clock, *, deposit_id: str, actor: str, context: RequestContext | None) -> None:
    """Lock the check after the last wrong answer, in its own transaction (it must survive the 4xx)."""
    with runtime.transaction() as s:
        row = s.scalar(select(MicroDeposit).where(MicroDeposit.id == deposit_id).with_for_update())
        assert row is not None
        if row.status != SENT:
            return
        org = s.scalar(select(Org).where(Org.id == row.org_id).with_for_update())
        assert org is not None
        row.status = LOCKED
        if org.bank_status == SENT:
            org.bank_status, org.updated_at = LOCKED, clock.now()
        s.flush()
        audit(
            s,
            clock,
            org_id=org.id,
            actor=actor,
            action="org.bank_check_locked",
            object_id=row.id,
            data={"attempts": row.attempts},
            context=context,
        )


def _locked() -> DepositLocked:
    return DepositLocked(
        "打款验证已失效（错误次数过多或已过期），请重新发起",
        detail_en="Too many wrong answers or expired; start a new check",
    )


def confirm_micro_deposit(
    *,
    session: Session,
    clock: Clock,
    actor_id: str,
    org_id: str,
    data: DepositConfirm,
    context: RequestContext | None = None,
) -> DepositRead:
    """Check the amount the agent read off the statement; lock the check after too many wrong answers."""
    org, _member = org_for(session, org_id=org_id, user_id=actor_id, permission=Permission.VERIFY)
    if org.status != DRAFT or org.bank_status == VERIFIED:
        raise OrgStateConflict("对公账户已验证", detail_en="The bank account is verified already")
    cents = parse_amount(data.amount)
    row = _latest(session, org.id)
    if row is None:
        raise OrgStateConflict("请先发起打款验证", detail_en="Start a micro-deposit check first")
    if row.status != SENT or is_expired(row.expires_at, clock.now()):
        raise _locked()
    expected = open_text(session, org_id=org.id, table=TABLE, column="amount", row_id=row.id, blob=row.amount_enc)
    runtime = runtime_of(session)
    used = _reserve_attempt(runtime, clock, deposit_id=row.id)
    if not hmac.compare_digest(str(cents).encode(), expected.encode()):
        left = runtime.settings.micro_deposit_max_attempts - used
        if left <= 0:
            _lock(runtime, clock, deposit_id=row.id, actor=actor_id, context=context)
            raise _locked()
        raise DepositMismatch(
            f"金额不正确，还可尝试 {left} 次",
            detail_en=f"Wrong amount; {left} attempts left",
            attempts_left=left,
        )
    org = lock_org(session, org.id)
    row = session.scalar(
        select(MicroDeposit)
        .where(MicroDeposit.id == row.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    if row.status != SENT:
        raise _locked()
    now = clock.now()
    row.status, row.verified_at = VERIFIED, now
    org.bank_status, org.bank_verified_at, org.updated_at = VERIFIED, now, now
    session.flush()
    audit(
        session,
        clock,
        org_id=org.id,
        actor=actor_id,
        action="org.bank_verified",
        object_id=row.id,
        data={"attempts": row.attempts},
        context=context,
    )
    applications.complete_if_ready(session=session, clock=clock, org=org, actor=actor_id, context=context)
    return _read(session, row)
