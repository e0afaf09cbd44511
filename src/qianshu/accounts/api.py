"""REST API of accounts (`/api/v1`): registration, sessions, profile, password and contact changes."""

from __future__ import annotations

from fastapi import APIRouter, Path, Response, status

from qianshu.accounts import service as accounts_service
from qianshu.accounts.schemas import (
    CodeSentRead,
    ContactChangeComplete,
    ContactChangeStart,
    LoginRead,
    PasswordChange,
    PasswordLogin,
    PasswordResetComplete,
    PasswordResetStart,
    ProfileRead,
    RegisterComplete,
    RegisterStart,
    RevokedRead,
    SessionRead,
    SigningPasswordRemove,
    SigningPasswordSet,
    SmsLogin,
    SmsLoginStart,
)
from qianshu.core.auth import ActingUser, CurrentUser, clear_session_cookie, set_session_cookie
from qianshu.core.deps import CallingDep, ClockDep, DbSession, SettingsDep

router = APIRouter(prefix="/api/v1", tags=["accounts"])
SessionId = Path(min_length=1, max_length=40)


def _logged_in(response: Response, settings: SettingsDep, new: accounts_service.NewSession) -> LoginRead:
    set_session_cookie(response, token=new.token, settings=settings)
    return new.read


@router.post("/accounts/register/start", status_code=status.HTTP_202_ACCEPTED)
def register_start(body: RegisterStart, call: CallingDep) -> CodeSentRead:
    """Send a registration code to the phone or e-mail."""
    return accounts_service.start_registration(**call.args(phone=body.phone, email=body.email))


@router.post("/accounts/register/complete", status_code=status.HTTP_201_CREATED)
def register_complete(body: RegisterComplete, response: Response, call: CallingDep, settings: SettingsDep) -> LoginRead:
    """Create the account with the code and password; the response carries a new session."""
    new = accounts_service.complete_registration(
        **call.args(phone=body.phone, email=body.email, code=body.code, password=body.password),
        accept_policy_version=body.accept_policy_version,
        display_name=body.display_name,
    )
    return _logged_in(response, settings, new)


@router.post("/sessions", status_code=status.HTTP_201_CREATED)
def create_session(body: PasswordLogin, response: Response, call: CallingDep, settings: SettingsDep) -> LoginRead:
    """Log in with phone or e-mail and password."""
    new = accounts_service.login_with_password(**call.args(login=body.login, password=body.password))
    return _logged_in(response, settings, new)


@router.post("/sessions/sms/start", status_code=status.HTTP_202_ACCEPTED)
def sms_start(body: SmsLoginStart, call: CallingDep) -> CodeSentRead:
    """Send a login code by SMS."""
    return accounts_service.start_sms_login(**call.args(phone=body.phone))


@router.post("/sessions/sms", status_code=status.HTTP_201_CREATED)
def create_session_by_sms(body: SmsLogin, response: Response, call: CallingDep, settings: SettingsDep) -> LoginRead:
    """Log in with the SMS code."""
    new = accounts_service.login_with_sms(**call.args(phone=body.phone, code=body.code))
    return _logged_in(response, settings, new)


@router.get("/sessions")
def list_sessions(user: CurrentUser, session: DbSession, clock: ClockDep) -> list[SessionRead]:
    """List the signed-in devices."""
    return accounts_service.list_sessions(
        session=session, clock=clock, user_id=user.user_id, current_session_id=user.session_id
    )


@router.delete("/sessions/current", status_code=status.HTTP_204_NO_CONTENT)
def delete_current_session(act: ActingUser, settings: SettingsDep) -> Response:
    """Log out this device."""
    accounts_service.logout(**act.args(principal=act.user))
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookie(response, settings=settings)
    return response


@router.delete("/sessions")
def delete_other_sessions(act: ActingUser) -> RevokedRead:
    """Log out every other device."""
    count = accounts_service.revoke_other_sessions(
        **act.args(user_id=act.user.user_id, keep_session_id=act.user.session_id)
    )
    return RevokedRead(revoked=count)


@router.delete("/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_session(act: ActingUser, session_id: str = SessionId) -> Response:
    """Log out one device by its session id."""
    accounts_service.revoke_session(**act.args(user_id=act.user.user_id, session_id=session_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me")
def me(user: CurrentUser, session: DbSession) -> ProfileRead:
    """Return the signed-in person's profile, masked."""
    return accounts_service.get_profile(session=session, user_id=user.user_id)


@router.post("/me/password", status_code=status.HTTP_204_NO_CONTENT)
def change_password(body: PasswordChange, act: ActingUser) -> Response:
    """Change the password; other devices are logged out."""
    accounts_service.change_password(
        **act.args(principal=act.user, current_password=body.current_password, new_password=body.new_password)
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/me/signing-password", status_code=status.HTTP_204_NO_CONTENT)
def set_signing_password(body: SigningPasswordSet, act: ActingUser) -> Response:
    """Set or change the signing password (签署密码) that confirms the intent to sign."""
    accounts_service.set_signing_password(
        **act.args(principal=act.user, current_password=body.current_password, signing_password=body.signing_password)
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/me/signing-password/remove", status_code=status.HTTP_204_NO_CONTENT)
def remove_signing_password(body: SigningPasswordRemove, act: ActingUser) -> Response:
    """Remove the signing password (a one-time code still confirms intent)."""
    accounts_service.remove_signing_password(**act.args(principal=act.user, current_password=body.current_password))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/me/contact/start", status_code=status.HTTP_202_ACCEPTED)
def contact_start(body: ContactChangeStart, act: ActingUser) -> CodeSentRead:
    """Send a code to a new phone or e-mail (the current password is required)."""
    contact = {"phone": body.phone, "email": body.email}
    return accounts_service.start_contact_change(**act.args(principal=act.user, password=body.password, **contact))


@router.post("/me/contact/complete")
def contact_complete(body: ContactChangeComplete, act: ActingUser) -> ProfileRead:
    """Store the new phone or e-mail once its code is confirmed."""
    contact = {"phone": body.phone, "email": body.email}
    return accounts_service.complete_contact_change(**act.args(principal=act.user, code=body.code, **contact))


@router.post("/accounts/password-reset/start", status_code=status.HTTP_202_ACCEPTED)
def password_reset_start(body: PasswordResetStart, call: CallingDep) -> CodeSentRead:
    """Send a reset code (the answer is the same whether or not the account exists)."""
    return accounts_service.start_password_reset(**call.args(login=body.login))


@router.post("/accounts/password-reset/complete", status_code=status.HTTP_204_NO_CONTENT)
def password_reset_complete(body: PasswordResetComplete, call: CallingDep) -> Response:
    """Set a new password with the reset code; every device is logged out."""
    accounts_service.complete_password_reset(**call.args(login=body.login, code=body.code, password=body.password))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
