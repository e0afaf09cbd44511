"""Accounts: registration, login by password or SMS code, sessions, password and contact changes.

Phone numbers, e-mail addresses and names are stored only as vault ciphertexts (subject = the
user) with blind indexes for lookup. Every state change writes its audit event through
`evidence_service` in the same transaction. Nothing on the login path tells whether an account
exists: unknown logins get the same answers, the same timing (a dummy hash) and the same lockout.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qianshu.accounts import codes, throttle
from qianshu.accounts.errors import (
    CodeAttemptsExceeded,
    CodeExpired,
    CodeInvalid,
    ContactTaken,
    InvalidCredentials,
    PolicyNotAccepted,
    SessionNotFound,
    WeakPassword,
)
from qianshu.accounts.models import User, UserSession
from qianshu.accounts.passwords import password_hashing
from qianshu.accounts.rules import (
    Contact,
    check_password,
    device_label,
    parse_contact,
    parse_login,
    parse_phone,
)
from qianshu.accounts.schemas import (
    CodeSentRead,
    ContactRead,
    LoginRead,
    ProfileRead,
    SessionRead,
    UserRead,
)
from qianshu.core.auth import Principal
from qianshu.core.clock import Clock, as_utc
from qianshu.core.deps import RequestContext
from qianshu.core.errors import InvalidInput, NotFound, ServiceUnavailable
from qianshu.core.ids import new_id, new_token
from qianshu.core.logging import get_logger
from qianshu.core.runtime import Runtime, runtime_of
from qianshu.vault import service as vault_service
from qianshu.vault.masking import mask_email, mask_name, mask_phone

log = get_logger("qianshu.accounts")

TABLE = "accounts_user"
ROLE_USER, ROLE_OPERATOR = "user", "operator"
ACTIVE, DISABLED, CANCELLED = "active", "disabled", "cancelled"
TOKEN_PREFIX = "qss_"  # a public prefix, not a secret
DEMO_OPERATOR_EMAIL = "admin@qianshu.local"
_SEEN_EVERY = timedelta(minutes=5)
_TEMPLATES = {
    "register": "otp_register",
    "login": "otp_login",
    "reset": "otp_reset",
    "change_contact": "otp_change_contact",
}


@dataclass(frozen=True)
class NewSession:
    """A session just created, with the token to hand to the client once."""

    token: str
    read: LoginRead


# --- small helpers --------------------------------------------------------------------------


def _bidx(session: Session, contact: Contact) -> str:
    return vault_service.blind_index(session=session, kind=contact.kind, value=contact.value)


def _user_by_contact(session: Session, contact: Contact, bidx: str | None = None) -> User | None:
    bidx = bidx or _bidx(session, contact)
    column = User.phone_bidx if contact.kind == "phone" else User.email_bidx
    return session.scalar(select(User).where(column == bidx))


def _active(user: User | None) -> User | None:
    return user if user is not None and user.status == ACTIVE else None


def _record(
    session: Session,
    clock: Clock,
    *,
    user_id: str,
    action: str,
    actor: str | None = None,
    object_id: str | None = None,
    data: dict[str, Any] | None = None,
    context: RequestContext | None = None,
) -> None:
    from qianshu.evidence import service as evidence_service

    evidence_service.record_event(
        session=session,
        clock=clock,
        stream=f"user:{user_id}",
        actor=actor or user_id,
        action=action,
        object_id=object_id or user_id,
        data=data or {},
        context=context,
    )


def _decrypt(session: Session, user: User, column: str, blob: bytes | None) -> str | None:
    if blob is None:
        return None
    try:
        return vault_service.decrypt_field(
            session=session, subject_id=user.id, table=TABLE, column=column, row_id=user.id, blob=blob
        )
    except vault_service.DataShredded:
        return None


def _set_contact(session: Session, user: User, contact: Contact, bidx: str) -> None:
    blob = vault_service.encrypt_field(
        session=session,
        subject_id=user.id,
        table=TABLE,
        column=contact.kind,
        row_id=user.id,
        value=contact.value,
    )
    if contact.kind == "phone":
        user.phone_bidx, user.phone_enc = bidx, blob
    else:
        user.email_bidx, user.email_enc = bidx, blob


def _flush_unique(session: Session, contact: Contact) -> None:
    try:
        session.flush()
    except IntegrityError:
        raise _taken(contact) from None


def _taken(contact: Contact) -> ContactTaken:
    if contact.kind == "phone":
        return ContactTaken("该手机号已注册，请直接登录", detail_en="This mobile number is already registered")
    return ContactTaken("该邮箱已注册，请直接登录", detail_en="This e-mail address is already registered")


def _masked(contact: Contact) -> str:
    return mask_phone(contact.value) if contact.kind == "phone" else mask_email(contact.value)


def _code_sent(session: Session, contact: Contact) -> CodeSentRead:
    s = runtime_of(session).settings
    return CodeSentRead(
        channel=contact.kind,
        sent_to=_masked(contact),
        expires_in=s.otp_ttl_seconds,
        resend_after=s.otp_resend_seconds,
    )


def _send_code(
    session: Session,
    clock: Clock,
    *,
    purpose: str,
    contact: Contact,
    subject_id: str,
    code: str,
    context: RequestContext | None,
) -> None:
    from qianshu.notify import service as notify_service

    minutes = max(1, runtime_of(session).settings.otp_ttl_seconds // 60)
    params = {"code": code, "minutes": minutes}
    locale = context.locale if context is not None else "zh-CN"
    if contact.kind == "phone":
        notify_service.send_sms(
            session=session,
            clock=clock,
            subject_id=subject_id,
            phone=contact.value,
            template=_TEMPLATES[purpose],
            params=params,
            locale=locale,
        )
    else:
        notify_service.send_email(
            session=session,
            clock=clock,
            subject_id=subject_id,
            email=contact.value,
            template=_TEMPLATES[purpose],
            params=params,
            locale=locale,
        )


def _issue_and_send(
    session: Session,
    clock: Clock,
    *,
    purpose: str,
    contact: Contact,
    bidx: str,
    user_id: str | None,
    subject_id: str | None,
    context: RequestContext | None,
) -> CodeSentRead:
    """Issue a code; send it when `subject_id` is set (None: a decoy for an unknown login, never sent)."""
    issued = codes.issue_code(
        session=session,
        clock=clock,
        purpose=purpose,
        channel=contact.kind,
        target_bidx=bidx,
        user_id=user_id,
        client_ip=context.ip if context is not None else None,
    )
    if subject_id is not None:
        _send_code(
            session,
            clock,
            purpose=purpose,
            contact=contact,
            subject_id=subject_id,
            code=issued.code,
            context=context,
        )
    return _code_sent(session, contact)


def _client(context: RequestContext | None) -> str | None:
    return context.ip if context is not None else None


def _verify_code_or_count(
    session: Session,
    clock: Clock,
    *,
    purpose: str,
    bidx: str,
    code: str,
    guard: throttle.Guard,
    user_id: str | None,
    context: RequestContext | None,
    owner: str | None = None,
) -> str:
    """Verify a code; on failure count it against the guard (and maybe lock) before re-raising."""
    try:
        return codes.verify_code(
            session=session, clock=clock, purpose=purpose, target_bidx=bidx, code=code, user_id=owner
        )
    except (CodeInvalid, CodeAttemptsExceeded):
        lock = throttle.record_failure(session=session, clock=clock, guard=guard, user_id=user_id, context=context)
        if lock is not None:
            raise lock from None
        raise


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _session_read(row: UserSession, current_id: str | None) -> SessionRead:
    return SessionRead(
        id=row.id,
        device=row.device,
        method=row.method,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        expires_at=row.expires_at,
        current=row.id == current_id,
    )


def _profile(session: Session, user: User) -> ProfileRead:
    phone = _decrypt(session, user, "phone", user.phone_enc)
    email = _decrypt(session, user, "email", user.email_enc)
    name = _decrypt(session, user, "display_name", user.display_name_enc)
    return ProfileRead(
        id=user.id,
        role=user.role,
        phone=mask_phone(phone) if phone else None,
        email=mask_email(email) if email else None,
        display_name=mask_name(name) if name else None,
        created_at=user.created_at,
        password_changed_at=user.password_changed_at,
    )


def _start_session(
    session: Session, clock: Clock, *, user: User, method: str, context: RequestContext | None
) -> NewSession:
    settings = runtime_of(session).settings
    now = clock.now()
    token = TOKEN_PREFIX + new_token(32)
    row = UserSession(
        id=new_id("ses"),
        user_id=user.id,
        token_hash=_token_hash(token),
        method=method,
        device=device_label(context.user_agent if context is not None else "")[:80],
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(days=settings.session_days),
    )
    session.add(row)
    user.last_login_at = now
    session.flush()
    _record(
        session,
        clock,
        user_id=user.id,
        action="account.login",
        object_id=row.id,
        data={"method": method},
        context=context,
    )
    read = LoginRead(
        token=token,
        expires_at=row.expires_at,
        session=_session_read(row, row.id),
        user=_profile(session, user),
    )
    return NewSession(token=token, read=read)


def _revoke(session: Session, clock: Clock, *, user_id: str, keep: str | None, reason: str) -> int:
    rows = list(
        session.scalars(select(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None)))
    )
    count = 0
    for row in rows:
        if row.id != keep:
            row.revoked_at, row.revoked_reason = clock.now(), reason
            count += 1
    session.flush()
    return count


def _user_or_raise(session: Session, user_id: str) -> User:
    user = _active(session.get(User, user_id))
    if user is None:
        raise NotFound("账户不存在", detail_en="No such account")
    return user


def _check_current_password(
    session: Session, clock: Clock, *, user: User, password: str, context: RequestContext | None
) -> None:
    guard = throttle.Guard(account=throttle.account_key(user_id=user.id, login_bidx=""), client=_client(context))
    throttle.check(session=session, clock=clock, guard=guard)
    if not password_hashing(runtime_of(session)).verify(user.password_hash, password):
        lock = throttle.record_failure(session=session, clock=clock, guard=guard, user_id=user.id, context=context)
        if lock is not None:
            raise lock
        raise InvalidCredentials("当前密码错误", detail_en="The current password is wrong")


def _contacts_of(session: Session, user: User | None, *extra: Contact) -> list[str]:
    values = [c.value for c in extra]
    if user is not None:
        for column, blob in (("phone", user.phone_enc), ("email", user.email_enc)):
            value = _decrypt(session, user, column, blob)
            if value:
                values.append(value)
    return values


# --- registration ---------------------------------------------------------------------------


def start_registration(
    *,
    session: Session,
    clock: Clock,
    phone: str | None = None,
    email: str | None = None,
    context: RequestContext | None = None,
) -> CodeSentRead:
    """Send a registration code to the phone or e-mail (also when taken: that is told after the code)."""
    contact = parse_contact(phone=phone, email=email)
    bidx = _bidx(session, contact)
    throttle.check(session=session, clock=clock, guard=throttle.Guard(account=None, client=_client(context)))
    return _issue_and_send(
        session,
        clock,
        purpose="register",
        contact=contact,
        bidx=bidx,
        user_id=None,
        subject_id=vault_service.SYSTEM_SUBJECT,
        context=context,
    )


def _current_policy(session: Session) -> Any:
    from qianshu.privacy import service as privacy_service

    policy = privacy_service.current_policy(session=session)
    if policy is None:
        raise ServiceUnavailable("隐私政策尚未发布，暂不能注册", detail_en="No privacy policy is published yet")
    return policy


def current_policy_version(*, session: Session) -> str:
    """Return the version label of the policy a new user must accept."""
    return str(_current_policy(session).version)


def complete_registration(
    *,
    session: Session,
    clock: Clock,
    code: str,
    password: str,
    accept_policy_version: str,
    phone: str | None = None,
    email: str | None = None,
    display_name: str | None = None,
    context: RequestContext | None = None,
) -> NewSession:
    """Verify the code, create the account, record the policy acceptance and start a session."""
    contact = parse_contact(phone=phone, email=email)
    bidx = _bidx(session, contact)
    guard = throttle.Guard(account=None, client=_client(context))
    throttle.check(session=session, clock=clock, guard=guard)
    check_password(password, contacts=[contact.value])
    policy = _current_policy(session)
    if accept_policy_version.strip() not in {str(policy.version), str(policy.id)}:
        raise PolicyNotAccepted(
            "请阅读并同意当前版本的隐私政策后再注册",
            detail_en="Accept the current privacy policy to register",
            current_version=str(policy.version),
        )
    name = (display_name or "").strip()
    if len(name) > 64:
        raise InvalidInput("称呼不能超过 64 个字符", detail_en="The name is at most 64 characters")
    _verify_code_or_count(
        session, clock, purpose="register", bidx=bidx, code=code, guard=guard, user_id=None, context=context
    )
    if _user_by_contact(session, contact, bidx) is not None:
        raise _taken(contact)
    now = clock.now()
    user = User(
        id=new_id("usr"),
        role=ROLE_USER,
        status=ACTIVE,
        password_hash=password_hashing(runtime_of(session)).hash(password),
        created_at=now,
        updated_at=now,
        password_changed_at=now,
    )
    session.add(user)
    _set_contact(session, user, contact, bidx)
    if name:
        user.display_name_enc = vault_service.encrypt_field(
            session=session,
            subject_id=user.id,
            table=TABLE,
            column="display_name",
            row_id=user.id,
            value=name,
        )
    _flush_unique(session, contact)
    from qianshu.privacy import service as privacy_service

    privacy_service.record_policy_acceptance(
        session=session, clock=clock, user_id=user.id, version_id=str(policy.id), context=context
    )
    _record(
        session,
        clock,
        user_id=user.id,
        action="account.registered",
        data={"channel": contact.kind},
        context=context,
    )
    log.info("account_registered", user_id=user.id, channel=contact.kind)
    return _start_session(session, clock, user=user, method="register", context=context)


# --- login ----------------------------------------------------------------------------------


def _login_target(
    session: Session, contact: Contact, context: RequestContext | None
) -> tuple[User | None, str, throttle.Guard]:
    """Find the active account behind a login (if any), its blind index and its throttle guard."""
    bidx = _bidx(session, contact)
    user = _active(_user_by_contact(session, contact, bidx))
    guard = throttle.Guard(
        account=throttle.account_key(user_id=user.id if user else None, login_bidx=bidx),
        client=_client(context),
    )
    return user, bidx, guard


def login_with_password(
    *, session: Session, clock: Clock, login: str, password: str, context: RequestContext | None = None
) -> NewSession:
    """Log in with phone or e-mail and password; lock the login after repeated failures."""
    contact = parse_login(login)
    user, _, guard = _login_target(session, contact, context)
    throttle.check(session=session, clock=clock, guard=guard)
    hashing = password_hashing(runtime_of(session))
    matched = hashing.verify(user.password_hash if user is not None else None, password)  # same cost either way
    if user is None or not matched:
        lock = throttle.record_failure(
            session=session, clock=clock, guard=guard, user_id=user.id if user else None, context=context
        )
        if lock is not None:
            raise lock
        left = throttle.failures_left(session=session, clock=clock, guard=guard)
        raise InvalidCredentials(
            f"账号或密码错误，还可尝试 {left} 次",
            detail_en=f"Wrong login or password; {left} tries left",
            attempts_left=left,
        )
    assert user.password_hash is not None
    if hashing.needs_rehash(user.password_hash):
        user.password_hash = hashing.hash(password)
    throttle.clear(session=session, account=guard.account or "")
    return _start_session(session, clock, user=user, method="password", context=context)


def start_sms_login(
    *, session: Session, clock: Clock, phone: str, context: RequestContext | None = None
) -> CodeSentRead:
    """Send a login code by SMS (unknown numbers get the same answer and no message)."""
    contact = parse_phone(phone)
    user, bidx, guard = _login_target(session, contact, context)
    throttle.check(session=session, clock=clock, guard=guard)
    return _issue_and_send(
        session,
        clock,
        purpose="login",
        contact=contact,
        bidx=bidx,
        user_id=user.id if user else None,
        subject_id=user.id if user else None,
        context=context,
    )


def login_with_sms(
    *, session: Session, clock: Clock, phone: str, code: str, context: RequestContext | None = None
) -> NewSession:
    """Log in with the SMS code (promise A3)."""
    contact = parse_phone(phone)
    user, bidx, guard = _login_target(session, contact, context)
    throttle.check(session=session, clock=clock, guard=guard)
    owner = _verify_code_or_count(
        session,
        clock,
        purpose="login",
        bidx=bidx,
        code=code,
        guard=guard,
        user_id=user.id if user else None,
        context=context,
    )
    if user is None or owner != user.id:
        raise CodeExpired()
    throttle.clear(session=session, account=guard.account or "")
    return _start_session(session, clock, user=user, method="sms", context=context)


# --- sessions -------------------------------------------------------------------------------


# Built once: every request asks it, and building and keying it cost about as much as running it.
_SESSION_BY_TOKEN = (
    select(UserSession, User)
    .join(User, User.id == UserSession.user_id)
    .where(UserSession.token_hash == bindparam("token_hash"))
)


def resolve_session(*, session: Session, clock: Clock, token: str) -> Principal | None:
    """Return who holds `token`, or None when it is unknown, revoked, expired or the user is gone.

    One query per request (the session with its user); nothing is decrypted here, since every
    request pays for this and no page shows the caller's contact details.
    """
    if not token or len(token) > 200:
        return None
    found = session.execute(_SESSION_BY_TOKEN, {"token_hash": _token_hash(token)}).first()
    now = clock.now()
    if found is None:
        return None
    row, user = found
    if row.revoked_at is not None or as_utc(row.expires_at) <= now or _active(user) is None:
        return None
    if now - as_utc(row.last_seen_at) >= _SEEN_EVERY:
        # Own short transaction: the request's transaction must stay free of writes until the route runs.
        with runtime_of(session).transaction() as s:
            s.execute(
                update(UserSession)
                .where(UserSession.id == row.id)
                .values(last_seen_at=now)
                .execution_options(synchronize_session=False)
            )
    return Principal(user_id=user.id, session_id=row.id, role=user.role)


def logout(*, session: Session, clock: Clock, principal: Principal, context: RequestContext | None = None) -> None:
    """End the current session."""
    row = session.get(UserSession, principal.session_id)
    if row is None or row.revoked_at is not None:
        return
    row.revoked_at, row.revoked_reason = clock.now(), "logout"
    session.flush()
    _record(session, clock, user_id=principal.user_id, action="account.logout", object_id=row.id, context=context)


def list_sessions(*, session: Session, clock: Clock, user_id: str, current_session_id: str | None) -> list[SessionRead]:
    """List the user's live sessions, newest first."""
    rows = session.scalars(
        select(UserSession)
        .where(
            UserSession.user_id == user_id,
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > clock.now(),
        )
        .order_by(UserSession.created_at.desc())
    )
    return [_session_read(row, current_session_id) for row in rows]


def revoke_session(
    *, session: Session, clock: Clock, user_id: str, session_id: str, context: RequestContext | None = None
) -> None:
    """Log out one of the user's devices."""
    row = session.get(UserSession, session_id)
    if row is None or row.user_id != user_id or row.revoked_at is not None:
        raise SessionNotFound()
    row.revoked_at, row.revoked_reason = clock.now(), "revoked"
    session.flush()
    _record(
        session,
        clock,
        user_id=user_id,
        action="account.session_revoked",
        object_id=session_id,
        context=context,
    )


def revoke_other_sessions(
    *,
    session: Session,
    clock: Clock,
    user_id: str,
    keep_session_id: str | None,
    context: RequestContext | None = None,
) -> int:
    """Log out every device but the current one; return how many."""
    count = _revoke(session, clock, user_id=user_id, keep=keep_session_id, reason="revoked")
    if count:
        _record(
            session,
            clock,
            user_id=user_id,
            action="account.sessions_revoked",
            data={"count": count},
            context=context,
        )
    return count


# --- profile --------------------------------------------------------------------------------


def get_user(*, session: Session, user_id: str) -> UserRead | None:
    """Return the user (no personal data), or None."""
    user = session.get(User, user_id)
    if user is None:
        return None
    return UserRead(
        id=user.id,
        role=user.role,
        status=user.status,
        has_phone=user.phone_bidx is not None,
        has_email=user.email_bidx is not None,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


def get_user_or_raise(*, session: Session, user_id: str) -> UserRead:
    """Return the user or raise NotFound."""
    user = get_user(session=session, user_id=user_id)
    if user is None:
        raise NotFound("账户不存在", detail_en="No such account")
    return user


def list_users(*, session: Session, limit: int = 200) -> list[UserRead]:
    """Return users, newest first (operators' view; no personal data)."""
    rows = session.scalars(select(User).order_by(User.created_at.desc()).limit(limit))
    return [u for u in (get_user(session=session, user_id=row.id) for row in rows) if u is not None]


def get_profile(*, session: Session, user_id: str) -> ProfileRead:
    """Return the user's own profile, masked."""
    return _profile(session, _user_or_raise(session, user_id))


def get_contact(*, session: Session, user_id: str) -> ContactRead:
    """Return the user's phone, e-mail and name in clear (for sending messages and data exports)."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("账户不存在", detail_en="No such account")
    return ContactRead(
        user_id=user.id,
        phone=_decrypt(session, user, "phone", user.phone_enc),
        email=_decrypt(session, user, "email", user.email_enc),
        display_name=_decrypt(session, user, "display_name", user.display_name_enc),
    )


def find_user(*, session: Session, phone: str | None = None, email: str | None = None) -> UserRead | None:
    """Find an active user by phone or e-mail (for invitations; never for the login path)."""
    contact = parse_contact(phone=phone, email=email)
    user = _active(_user_by_contact(session, contact))
    return get_user(session=session, user_id=user.id) if user else None


# --- passwords ------------------------------------------------------------------------------


def start_password_reset(
    *, session: Session, clock: Clock, login: str, context: RequestContext | None = None
) -> CodeSentRead:
    """Send a reset code to the account's phone or e-mail (same answer for unknown logins)."""
    contact = parse_login(login)
    bidx = _bidx(session, contact)
    user = _active(_user_by_contact(session, contact, bidx))
    throttle.check(session=session, clock=clock, guard=throttle.Guard(account=None, client=_client(context)))
    return _issue_and_send(
        session,
        clock,
        purpose="reset",
        contact=contact,
        bidx=bidx,
        user_id=user.id if user else None,
        subject_id=user.id if user else None,
        context=context,
    )


def complete_password_reset(
    *,
    session: Session,
    clock: Clock,
    login: str,
    code: str,
    password: str,
    context: RequestContext | None = None,
) -> None:
    """Set a new password with the reset code; end every session and lift the login lock."""
    contact = parse_login(login)
    user, bidx, guard = _login_target(session, contact, context)
    check_password(password, contacts=_contacts_of(session, user, contact))
    throttle.check(session=session, clock=clock, guard=throttle.Guard(account=None, client=guard.client))
    owner = _verify_code_or_count(
        session,
        clock,
        purpose="reset",
        bidx=bidx,
        code=code,
        guard=guard,
        user_id=user.id if user else None,
        context=context,
    )
    if user is None or owner != user.id:
        raise CodeExpired()
    _set_password(session, clock, user, password, keep=None, reason="password_reset", context=context)
    throttle.clear(session=session, account=guard.account or "")


def change_password(
    *,
    session: Session,
    clock: Clock,
    principal: Principal,
    current_password: str,
    new_password: str,
    context: RequestContext | None = None,
) -> None:
    """Change the password after checking the current one; end the user's other sessions."""
    user = _user_or_raise(session, principal.user_id)
    _check_current_password(session, clock, user=user, password=current_password, context=context)
    check_password(new_password, contacts=_contacts_of(session, user))
    if current_password == new_password:
        raise WeakPassword(
            "新密码不能与当前密码相同",
            detail_en="Choose a password different from the current one",
            reason="unchanged",
        )
    _set_password(
        session, clock, user, new_password, keep=principal.session_id, reason="password_changed", context=context
    )


def _set_password(
    session: Session,
    clock: Clock,
    user: User,
    password: str,
    *,
    keep: str | None,
    reason: str,
    context: RequestContext | None,
) -> None:
    """Store the new password's hash, end the user's sessions but `keep`, and write `account.<reason>`."""
    user.password_hash = password_hashing(runtime_of(session)).hash(password)
    user.password_changed_at = user.updated_at = clock.now()
    revoked = _revoke(session, clock, user_id=user.id, keep=keep, reason=reason)
    _record(
        session,
        clock,
        user_id=user.id,
        action=f"account.{reason}",
        data={"sessions_revoked": revoked},
        context=context,
    )


# --- contact change -------------------------------------------------------------------------


def start_contact_change(
    *,
    session: Session,
    clock: Clock,
    principal: Principal,
    password: str,
    phone: str | None = None,
    email: str | None = None,
    context: RequestContext | None = None,
) -> CodeSentRead:
    """Check the password, then send a code to the new phone or e-mail."""
    contact = parse_contact(phone=phone, email=email)
    user = _user_or_raise(session, principal.user_id)
    _check_current_password(session, clock, user=user, password=password, context=context)
    bidx = _bidx(session, contact)
    return _issue_and_send(
        session,
        clock,
        purpose="change_contact",
        contact=contact,
        bidx=bidx,
        user_id=user.id,
        subject_id=user.id,
        context=context,
    )


def complete_contact_change(
    *,
    session: Session,
    clock: Clock,
    principal: Principal,
    code: str,
    phone: str | None = None,
    email: str | None = None,
    context: RequestContext | None = None,
) -> ProfileRead:
    """Confirm the new phone or e-mail with its code and store it."""
    contact = parse_contact(phone=phone, email=email)
    user = _user_or_raise(session, principal.user_id)
    bidx = _bidx(session, contact)
    guard = throttle.Guard(account=None, client=_client(context))
    throttle.check(session=session, clock=clock, guard=guard)
    _verify_code_or_count(
        session,
        clock,
        purpose="change_contact",
        bidx=bidx,
        code=code,
        guard=guard,
        user_id=user.id,
        context=context,
        owner=user.id,
    )
    holder = _user_by_contact(session, contact, bidx)
    if holder is not None and holder.id != user.id:
        raise _taken(contact)
    had = (user.phone_bidx if contact.kind == "phone" else user.email_bidx) is not None
    _set_contact(session, user, contact, bidx)
    user.updated_at = clock.now()
    _flush_unique(session, contact)
    _record(
        session,
        clock,
        user_id=user.id,
        action="account.contact_changed",
        data={"channel": contact.kind, "replaced": had},
        context=context,
    )
    return _profile(session, user)


# --- operators and lifecycle ----------------------------------------------------------------


def create_operator(
    *,
    session: Session,
    clock: Clock,
    password: str,
    phone: str | None = None,
    email: str | None = None,
    context: RequestContext | None = None,
) -> UserRead:
    """Create an operator account (CLI `qianshu user create-admin`)."""
    contact = parse_contact(phone=phone, email=email)
    check_password(password, contacts=[contact.value])
    bidx = _bidx(session, contact)
    if _user_by_contact(session, contact, bidx) is not None:
        raise _taken(contact)
    now = clock.now()
    user = User(
        id=new_id("usr"),
        role=ROLE_OPERATOR,
        status=ACTIVE,
        password_hash=password_hashing(runtime_of(session)).hash(password),
        created_at=now,
        updated_at=now,
        password_changed_at=now,
    )
    session.add(user)
    _set_contact(session, user, contact, bidx)
    _flush_unique(session, contact)
    _record(
        session,
        clock,
        user_id=user.id,
        actor="system",
        action="account.operator_created",
        data={"channel": contact.kind},
        context=context,
    )
    return get_user_or_raise(session=session, user_id=user.id)


def _random_password() -> str:
    while True:
        candidate = secrets.token_urlsafe(12)
        try:
            check_password(candidate)
        except WeakPassword:  # draw again until the rule is met
            continue
        return candidate


def ensure_demo_operator(*, runtime: Runtime) -> str | None:
    """In demo mode, create an operator when there is none; return the credentials to print once."""
    if not runtime.settings.demo:
        return None
    with runtime.transaction() as session:
        if session.scalar(select(exists().where(User.role == ROLE_OPERATOR))):
            return None
        password = _random_password()
        try:
            create_operator(session=session, clock=runtime.clock, email=DEMO_OPERATOR_EMAIL, password=password)
        except ContactTaken:
            return None
    return (
        f"演示运营账号 / demo operator: {DEMO_OPERATOR_EMAIL}  密码 / password: {password}"
        "  （仅显示这一次 / shown only once）"
    )


def unlock_login(*, session: Session, login: str) -> None:
    """Lift a login lock early (operator CLI)."""
    contact = parse_login(login)
    bidx = _bidx(session, contact)
    user = _user_by_contact(session, contact, bidx)
    throttle.clear(session=session, account=throttle.account_key(user_id=user.id if user else None, login_bidx=bidx))


def cancel_user(*, session: Session, clock: Clock, user_id: str, context: RequestContext | None = None) -> None:
    """Close the account for good: end sessions, free the phone/e-mail, shred the personal data key."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("账户不存在", detail_en="No such account")
    if user.status == CANCELLED:
        return
    _revoke(session, clock, user_id=user.id, keep=None, reason="cancelled")
    now = clock.now()
    user.status, user.cancelled_at, user.updated_at = CANCELLED, now, now
    user.phone_bidx = user.email_bidx = None
    user.phone_enc = user.email_enc = user.display_name_enc = None
    user.password_hash = user.signing_password_hash = user.signing_password_set_at = None
    session.flush()
    vault_service.destroy_data_key(session=session, clock=clock, subject_id=user.id)
    _record(session, clock, user_id=user.id, action="account.cancelled", context=context)


# --- signing password (签署密码, C4): confirms the intent to sign ------------------------------


def has_signing_password(*, session: Session, user_id: str) -> bool:
    """Tell whether the person has set a signing password."""
    user = session.get(User, user_id)
    return user is not None and user.signing_password_hash is not None


def set_signing_password(
    *,
    session: Session,
    clock: Clock,
    principal: Principal,
    current_password: str,
    signing_password: str,
    context: RequestContext | None = None,
) -> None:
    """Set or change the signing password after checking the current login password."""
    from qianshu.accounts import signing_password as sp

    user = _user_or_raise(session, principal.user_id)
    _check_current_password(session, clock, user=user, password=current_password, context=context)
    sp.check_rule(signing_password, login_password=current_password)
    changed = user.signing_password_hash is not None
    user.signing_password_hash = password_hashing(runtime_of(session)).hash(signing_password)
    user.signing_password_set_at = user.updated_at = clock.now()
    action = "account.signing_password_changed" if changed else "account.signing_password_set"
    _record(session, clock, user_id=user.id, action=action, context=context)


def remove_signing_password(
    *,
    session: Session,
    clock: Clock,
    principal: Principal,
    current_password: str,
    context: RequestContext | None = None,
) -> None:
    """Remove the signing password after checking the current login password."""
    user = _user_or_raise(session, principal.user_id)
    _check_current_password(session, clock, user=user, password=current_password, context=context)
    if user.signing_password_hash is None:
        return
    user.signing_password_hash = user.signing_password_set_at = None
    user.updated_at = clock.now()
    _record(session, clock, user_id=user.id, action="account.signing_password_removed", context=context)


def verify_signing_password(
    *, session: Session, clock: Clock, user_id: str, password: str, context: RequestContext | None = None
) -> None:
    """Check the person's signing password (contracts: 签署意愿); wrong ones are counted and lock it."""
    from qianshu.accounts import signing_password as sp

    sp.verify(session, clock, _user_or_raise(session, user_id), password, context)


# --- one-time codes for other domains (contracts: signing-link access and intent, 签署意愿) ------


def issue_code(
    *,
    session: Session,
    clock: Clock,
    purpose: str,
    channel: str,
    target_bidx: str,
    user_id: str | None = None,
    client_ip: str | None = None,
    delivered: bool = True,
) -> codes.IssuedCode:
    """Make a one-time code for `target_bidx` under `purpose` (the caller sends it, or hands it back:
    `delivered=False` skips the resend pause and sending quotas)."""
    return codes.issue_code(
        session=session,
        clock=clock,
        purpose=purpose,
        channel=channel,
        target_bidx=target_bidx,
        user_id=user_id,
        client_ip=client_ip,
        delivered=delivered,
    )


def verify_code(
    *, session: Session, clock: Clock, purpose: str, target_bidx: str, code: str, user_id: str | None = None
) -> str:
    """Check and consume the newest code for `target_bidx`; call before the transaction writes anything."""
    return codes.verify_code(
        session=session, clock=clock, purpose=purpose, target_bidx=target_bidx, code=code, user_id=user_id
    )


# --- retention (P13): the privacy sweep calls this daily ----------------------------------------


def purge_expired_records(*, session: Session, clock: Clock, keep_user_ids: Collection[str] = ()) -> dict[str, int]:
    """Delete old one-time codes, ended sessions and login throttles (audited); return counts by kind."""
    from qianshu.accounts import purge

    return purge.purge(session=session, clock=clock, keep_user_ids=keep_user_ids).as_dict()
