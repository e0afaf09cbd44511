"""HTML pages of accounts: register, login (password or SMS code), account, password reset.

Plain POST forms with the CSRF field; success answers 303 (post/redirect/get); a failure renders
the same form again with a readable message, after rolling back anything the attempt wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from qianshu.accounts import flow as flows
from qianshu.accounts import service as accounts_service
from qianshu.accounts.rules import parse_login
from qianshu.core.auth import OptionalUser, PageOperator, PageUser, clear_session_cookie, set_session_cookie
from qianshu.core.deps import ClockDep, ContextDep, DbSession, RuntimeDep
from qianshu.core.errors import InvalidInput, QianshuError
from qianshu.core.runtime import Runtime
from qianshu.vault.masking import mask_email, mask_phone
from qianshu.web.links import safe_next
from qianshu.web.render import Notice, render

router = APIRouter(include_in_schema=False)

FormStr = Annotated[str, Form()]
_MAX_FIELD = 1024
_CHANNELS = ("phone", "email")


# --- helpers --------------------------------------------------------------------------------


def _url(request: Request, path: str, **params: str) -> str:
    """Return `path` with `params`, keeping an explicit `?lang=` of this request."""
    query = {k: v for k, v in params.items() if v}
    lang = request.query_params.get("lang")
    if lang in ("en", "zh-CN"):
        query["lang"] = lang
    return path + (f"?{urlencode(query)}" if query else "")


def _redirect(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)


def _check_lengths(*values: str) -> None:
    if any(len(v) > _MAX_FIELD for v in values):
        raise InvalidInput("输入内容过长", detail_en="An input is too long")


def _page(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    error: QianshuError | None = None,
    session: Session | None = None,
) -> HTMLResponse:
    """Render an accounts page; with `error`, roll back the attempt and show its message."""
    locale = getattr(request.state, "locale", "zh-CN")
    settings = request.app.state.runtime.settings
    ctx: dict[str, Any] = {
        "url": lambda path, **kw: _url(request, path, **kw),
        "code_minutes": max(1, settings.otp_ttl_seconds // 60),
    }
    ctx.update(context)
    status = 200
    headers: dict[str, str] = {}
    if error is not None:
        if session is not None:
            session.rollback()
        problem = error.to_problem(locale=locale)
        ctx["notices"] = [Notice("error", str(problem["detail"]))]
        ctx["error_slug"] = error.slug
        status = error.status
        retry = getattr(error, "retry_after", None)
        if retry:
            headers["Retry-After"] = str(retry)
    return render(request, f"accounts/{name}", ctx, status_code=status, headers=headers)


def _split(kind: str, value: str) -> tuple[str | None, str | None]:
    """Return (phone, email) for a contact of `kind` (a blank value still fails validation)."""
    value = value or " "
    return (value, None) if kind == "phone" else (None, value)


def _masked(kind: str, value: str) -> str:
    return mask_phone(value) if kind == "phone" else mask_email(value)


def _flow(request: Request, runtime: Runtime, purpose: str) -> flows.Flow | None:
    return flows.open_flow(
        runtime, request.cookies.get(flows.FLOW_COOKIE), purpose=purpose, now=runtime.clock.now()
    )


def _logged_in(request: Request, runtime: Runtime, new: accounts_service.NewSession, target: str) -> Response:
    response = _redirect(target)
    set_session_cookie(response, token=new.token, settings=runtime.settings)
    flows.clear_cookie(response, runtime)
    return response


def _attempt(fn: Callable[[], Response], on_error: Callable[[QianshuError], HTMLResponse]) -> Response:
    try:
        return fn()
    except QianshuError as exc:
        return on_error(exc)


# --- register -------------------------------------------------------------------------------


def _policy_version(session: Session) -> str | None:
    try:
        return accounts_service.current_policy_version(session=session)
    except QianshuError:
        return None


def _register_page(
    request: Request,
    session: Session,
    runtime: Runtime,
    *,
    channel: str = "phone",
    step: str | None = None,
    error: QianshuError | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    flow = _flow(request, runtime, "register")
    if step != "start" and flow is not None:
        step, channel = "code", flow.kind
    else:
        step = "start"
    if error is not None:
        session.rollback()
    ctx = {
        "step": step,
        "channel": channel if channel in _CHANNELS else "phone",
        "sent_to": _masked(flow.kind, flow.value) if flow else "",
        "policy_version": _policy_version(session),
        "values": values or {},
        "next": safe_next(request.query_params.get("next"), ""),
    }
    return _page(request, "register.html", ctx, error=error)


@router.get("/register", response_class=HTMLResponse)
def register_page(
    request: Request,
    user: OptionalUser,
    session: DbSession,
    runtime: RuntimeDep,
    channel: str = "phone",
    step: str | None = None,
) -> Response:
    """Show registration: step 1 (phone or e-mail, send code) or step 2 (code, password, policy)."""
    if user is not None:
        return _redirect(_url(request, "/account"))
    return _register_page(request, session, runtime, channel=channel, step=step)


@router.post("/register/start")
def register_start(
    request: Request,
    session: DbSession,
    runtime: RuntimeDep,
    clock: ClockDep,
    context: ContextDep,
    channel: FormStr = "phone",
    phone: FormStr = "",
    email: FormStr = "",
) -> Response:
    """Send the registration code, then show step 2."""
    channel = channel if channel in _CHANNELS else "phone"
    value = phone if channel == "phone" else email

    def run() -> Response:
        _check_lengths(value)
        phone_in, email_in = _split(channel, value)
        accounts_service.start_registration(
            session=session, clock=clock, phone=phone_in, email=email_in, context=context
        )
        contact = parse_login(value)
        response = _redirect(_url(request, "/register", step="code"))
        flows.set_cookie(
            response, runtime, flows.Flow("register", contact.kind, contact.value), now=clock.now()
        )
        return response

    return _attempt(
        run,
        lambda exc: _register_page(
            request,
            session,
            runtime,
            channel=channel,
            step="start",
            error=exc,
            values={channel: value[:_MAX_FIELD]},
        ),
    )


@router.post("/register/resend")
def register_resend(
    request: Request, session: DbSession, runtime: RuntimeDep, clock: ClockDep, context: ContextDep
) -> Response:
    """Send a new registration code to the same phone or e-mail."""
    flow = _flow(request, runtime, "register")
    if flow is None:
        return _redirect(_url(request, "/register"))

    def run() -> Response:
        phone_in, email_in = _split(flow.kind, flow.value)
        accounts_service.start_registration(
            session=session, clock=clock, phone=phone_in, email=email_in, context=context
        )
        response = _redirect(_url(request, "/register", step="code", notice="accounts_code_resent"))
        flows.set_cookie(response, runtime, flow, now=clock.now())
        return response

    return _attempt(run, lambda exc: _register_page(request, session, runtime, error=exc))


@router.post("/register/complete")
def register_complete(
    request: Request,
    session: DbSession,
    runtime: RuntimeDep,
    clock: ClockDep,
    context: ContextDep,
    code: FormStr = "",
    password: FormStr = "",
    display_name: FormStr = "",
    accept_policy: FormStr = "",
    next: FormStr = "",
) -> Response:
    """Create the account, sign in and go to the account page."""
    flow = _flow(request, runtime, "register")
    if flow is None:
        expired = InvalidInput(
            "验证已过期，请重新获取验证码", detail_en="This step expired; request a new code"
        )
        return _register_page(request, session, runtime, step="start", error=expired)

    def run() -> Response:
        _check_lengths(code, password, display_name, accept_policy)
        phone_in, email_in = _split(flow.kind, flow.value)
        new = accounts_service.complete_registration(
            session=session,
            clock=clock,
            phone=phone_in,
            email=email_in,
            code=code,
            password=password,
            accept_policy_version=accept_policy,
            display_name=display_name or None,
            context=context,
        )
        target = safe_next(next, "") or _url(request, "/account", notice="accounts_registered")
        return _logged_in(request, runtime, new, target)

    return _attempt(
        run,
        lambda exc: _register_page(
            request, session, runtime, error=exc, values={"display_name": display_name[:64]}
        ),
    )


# --- login ----------------------------------------------------------------------------------


def _login_page(
    request: Request,
    session: Session,
    runtime: Runtime,
    *,
    tab: str = "password",
    step: str | None = None,
    error: QianshuError | None = None,
    values: dict[str, str] | None = None,
    next_url: str = "",
) -> HTMLResponse:
    flow = _flow(request, runtime, "login") if tab == "sms" else None
    if error is not None:
        session.rollback()
    ctx = {
        "tab": tab if tab in ("password", "sms") else "password",
        "step": "code" if flow is not None and step != "start" else "start",
        "sent_to": _masked(flow.kind, flow.value) if flow else "",
        "values": values or {},
        "next": safe_next(next_url or (flow.next if flow else ""), ""),
    }
    return _page(request, "login.html", ctx, error=error)


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request,
    user: OptionalUser,
    session: DbSession,
    runtime: RuntimeDep,
    tab: str = "password",
    step: str | None = None,
    next: str | None = None,
) -> Response:
    """Show login by password or by SMS code."""
    if user is not None:
        return _redirect(safe_next(next, "") or _url(request, "/account"))
    return _login_page(request, session, runtime, tab=tab, step=step, next_url=next or "")


@router.post("/login")
def login_password(
    request: Request,
    session: DbSession,
    runtime: RuntimeDep,
    clock: ClockDep,
    context: ContextDep,
    login: FormStr = "",
    password: FormStr = "",
    next: FormStr = "",
) -> Response:
    """Log in with phone or e-mail and password."""

    def run() -> Response:
        _check_lengths(login, password)
        new = accounts_service.login_with_password(
            session=session, clock=clock, login=login, password=password, context=context
        )
        return _logged_in(request, runtime, new, safe_next(next, "") or _url(request, "/account"))

    return _attempt(
        run,
        lambda exc: _login_page(
            request,
            session,
            runtime,
            tab="password",
            error=exc,
            values={"login": login[:_MAX_FIELD]},
            next_url=next,
        ),
    )


@router.post("/login/sms/start")
def login_sms_start(
    request: Request,
    session: DbSession,
    runtime: RuntimeDep,
    clock: ClockDep,
    context: ContextDep,
    phone: FormStr = "",
    next: FormStr = "",
) -> Response:
    """Send the SMS login code, then show the code step."""

    def run() -> Response:
        _check_lengths(phone)
        accounts_service.start_sms_login(session=session, clock=clock, phone=phone, context=context)
        contact = parse_login(phone)
        response = _redirect(_url(request, "/login", tab="sms", step="code"))
        flows.set_cookie(
            response,
            runtime,
            flows.Flow("login", contact.kind, contact.value, safe_next(next, "")),
            now=clock.now(),
        )
        return response

    return _attempt(
        run,
        lambda exc: _login_page(
            request,
            session,
            runtime,
            tab="sms",
            step="start",
            error=exc,
            values={"phone": phone[:_MAX_FIELD]},
            next_url=next,
        ),
    )


@router.post("/login/sms/resend")
def login_sms_resend(
    request: Request, session: DbSession, runtime: RuntimeDep, clock: ClockDep, context: ContextDep
) -> Response:
    """Send a new SMS login code to the same number."""
    flow = _flow(request, runtime, "login")
    if flow is None:
        return _redirect(_url(request, "/login", tab="sms"))

    def run() -> Response:
        accounts_service.start_sms_login(session=session, clock=clock, phone=flow.value, context=context)
        response = _redirect(_url(request, "/login", tab="sms", step="code", notice="accounts_code_resent"))
        flows.set_cookie(response, runtime, flow, now=clock.now())
        return response

    return _attempt(run, lambda exc: _login_page(request, session, runtime, tab="sms", error=exc))


@router.post("/login/sms")
def login_sms(
    request: Request,
    session: DbSession,
    runtime: RuntimeDep,
    clock: ClockDep,
    context: ContextDep,
    code: FormStr = "",
    next: FormStr = "",
) -> Response:
    """Log in with the SMS code."""
    flow = _flow(request, runtime, "login")
    if flow is None:
        expired = InvalidInput(
            "验证已过期，请重新获取验证码", detail_en="This step expired; request a new code"
        )
        return _login_page(request, session, runtime, tab="sms", step="start", error=expired, next_url=next)

    def run() -> Response:
        _check_lengths(code)
        new = accounts_service.login_with_sms(
            session=session, clock=clock, phone=flow.value, code=code, context=context
        )
        return _logged_in(
            request, runtime, new, safe_next(next or flow.next, "") or _url(request, "/account")
        )

    return _attempt(
        run, lambda exc: _login_page(request, session, runtime, tab="sms", error=exc, next_url=next)
    )


@router.post("/logout")
def logout(
    request: Request,
    user: OptionalUser,
    session: DbSession,
    runtime: RuntimeDep,
    clock: ClockDep,
    context: ContextDep,
) -> Response:
    """Log out this device and go to the home page."""
    if user is not None:
        accounts_service.logout(session=session, clock=clock, principal=user, context=context)
    response = _redirect(_url(request, "/", notice="logged_out"))
    clear_session_cookie(response, settings=runtime.settings)
    return response


# --- account --------------------------------------------------------------------------------


def _account_page(
    request: Request, session: Session, clock: ClockDep, user: PageUser, error: QianshuError | None = None
) -> HTMLResponse:
    if error is not None:
        session.rollback()
    ctx = {
        "profile": accounts_service.get_profile(session=session, user_id=user.user_id),
        "sessions": accounts_service.list_sessions(
            session=session, clock=clock, user_id=user.user_id, current_session_id=user.session_id
        ),
    }
    return _page(request, "account.html", ctx, error=error)


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, user: PageUser, session: DbSession, clock: ClockDep) -> HTMLResponse:
    """Show the masked profile, the signed-in devices and links to change password or contacts."""
    return _account_page(request, session, clock, user)


@router.post("/account/sessions/revoke-others")
def account_revoke_others(
    request: Request, user: PageUser, session: DbSession, clock: ClockDep, context: ContextDep
) -> Response:
    """Log out every other device."""
    accounts_service.revoke_other_sessions(
        session=session, clock=clock, user_id=user.user_id, keep_session_id=user.session_id, context=context
    )
    return _redirect(_url(request, "/account", notice="accounts_sessions_revoked"))


@router.post("/account/sessions/{session_id}/revoke")
def account_revoke_session(
    request: Request,
    session_id: str,
    user: PageUser,
    session: DbSession,
    runtime: RuntimeDep,
    clock: ClockDep,
    context: ContextDep,
) -> Response:
    """Log out one device (this one too, which then ends at the home page)."""

    def run() -> Response:
        accounts_service.revoke_session(
            session=session, clock=clock, user_id=user.user_id, session_id=session_id[:40], context=context
        )
        if session_id == user.session_id:
            response = _redirect(_url(request, "/", notice="logged_out"))
            clear_session_cookie(response, settings=runtime.settings)
            return response
        return _redirect(_url(request, "/account", notice="accounts_session_revoked"))

    return _attempt(run, lambda exc: _account_page(request, session, clock, user, exc))


@router.get("/account/password", response_class=HTMLResponse)
def password_page(request: Request, user: PageUser) -> HTMLResponse:
    """Show the change-password form."""
    return _page(request, "password_change.html", {})


@router.post("/account/password")
def password_change(
    request: Request,
    user: PageUser,
    session: DbSession,
    clock: ClockDep,
    context: ContextDep,
    current_password: FormStr = "",
    new_password: FormStr = "",
) -> Response:
    """Change the password; other devices are logged out."""

    def run() -> Response:
        _check_lengths(current_password, new_password)
        accounts_service.change_password(
            session=session,
            clock=clock,
            principal=user,
            current_password=current_password,
            new_password=new_password,
            context=context,
        )
        return _redirect(_url(request, "/account", notice="accounts_password_changed"))

    return _attempt(run, lambda exc: _page(request, "password_change.html", {}, error=exc, session=session))


def _contact_page(
    request: Request,
    session: Session,
    runtime: Runtime,
    *,
    channel: str = "phone",
    step: str | None = None,
    error: QianshuError | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    flow = _flow(request, runtime, "change_contact")
    if step != "start" and flow is not None:
        step, channel = "code", flow.kind
    else:
        step = "start"
    if error is not None:
        session.rollback()
    ctx = {
        "step": step,
        "channel": channel if channel in _CHANNELS else "phone",
        "sent_to": _masked(flow.kind, flow.value) if flow else "",
        "values": values or {},
    }
    return _page(request, "contact_change.html", ctx, error=error)


@router.get("/account/contact", response_class=HTMLResponse)
def contact_page(
    request: Request,
    user: PageUser,
    session: DbSession,
    runtime: RuntimeDep,
    channel: str = "phone",
    step: str | None = None,
) -> HTMLResponse:
    """Show the change-phone / change-e-mail form."""
    return _contact_page(request, session, runtime, channel=channel, step=step)


@router.post("/account/contact/start")
def contact_start(
    request: Request,
    user: PageUser,
    session: DbSession,
    runtime: RuntimeDep,
    clock: ClockDep,
    context: ContextDep,
    channel: FormStr = "phone",
    phone: FormStr = "",
    email: FormStr = "",
    password: FormStr = "",
) -> Response:
    """Check the password and send a code to the new phone or e-mail."""
    channel = channel if channel in _CHANNELS else "phone"
    value = phone if channel == "phone" else email

    def run() -> Response:
        _check_lengths(value, password)
        phone_in, email_in = _split(channel, value)
        accounts_service.start_contact_change(
            session=session,
            clock=clock,
            principal=user,
            password=password,
            phone=phone_in,
            email=email_in,
            context=context,
        )
        contact = parse_login(value)
        response = _redirect(_url(request, "/account/contact", step="code"))
        flows.set_cookie(
            response, runtime, flows.Flow("change_contact", contact.kind, contact.value), now=clock.now()
        )
        return response

    return _attempt(
        run,
        lambda exc: _contact_page(
            request,
            session,
            runtime,
            channel=channel,
            step="start",
            error=exc,
            values={channel: value[:_MAX_FIELD]},
        ),
    )


@router.post("/account/contact/complete")
def contact_complete(
    request: Request,
    user: PageUser,
    session: DbSession,
    runtime: RuntimeDep,
    clock: ClockDep,
    context: ContextDep,
    code: FormStr = "",
) -> Response:
    """Store the new phone or e-mail once its code is confirmed."""
    flow = _flow(request, runtime, "change_contact")
    if flow is None:
        expired = InvalidInput(
            "验证已过期，请重新获取验证码", detail_en="This step expired; request a new code"
        )
        return _contact_page(request, session, runtime, step="start", error=expired)

    def run() -> Response:
        _check_lengths(code)
        phone_in, email_in = _split(flow.kind, flow.value)
        accounts_service.complete_contact_change(
            session=session,
            clock=clock,
            principal=user,
            code=code,
            phone=phone_in,
            email=email_in,
            context=context,
        )
        response = _redirect(_url(request, "/account", notice="accounts_contact_changed"))
        flows.clear_cookie(response, runtime)
        return response

    return _attempt(run, lambda exc: _contact_page(request, session, runtime, error=exc))


# --- password reset -------------------------------------------------------------------------


def _reset_page(
    request: Request,
    session: Session,
    runtime: Runtime,
    *,
    step: str | None = None,
    error: QianshuError | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    flow = _flow(request, runtime, "reset")
    if error is not None:
        session.rollback()
    ctx = {
        "step": "code" if flow is not None and step != "start" else "start",
        "sent_to": _masked(flow.kind, flow.value) if flow else "",
        "values": values or {},
    }
    return _page(request, "password_reset.html", ctx, error=error)


@router.get("/password-reset", response_class=HTMLResponse)
def reset_page(
    request: Request, session: DbSession, runtime: RuntimeDep, step: str | None = None
) -> HTMLResponse:
    """Show password reset: step 1 (phone or e-mail) or step 2 (code and new password)."""
    return _reset_page(request, session, runtime, step=step)


@router.post("/password-reset/start")
def reset_start(
    request: Request,
    session: DbSession,
    runtime: RuntimeDep,
    clock: ClockDep,
    context: ContextDep,
    login: FormStr = "",
) -> Response:
    """Send a reset code (the page says the same whether or not the account exists)."""

    def run() -> Response:
        _check_lengths(login)
        accounts_service.start_password_reset(session=session, clock=clock, login=login, context=context)
        contact = parse_login(login)
        response = _redirect(_url(request, "/password-reset", step="code"))
        flows.set_cookie(response, runtime, flows.Flow("reset", contact.kind, contact.value), now=clock.now())
        return response

    return _attempt(
        run,
        lambda exc: _reset_page(
            request, session, runtime, step="start", error=exc, values={"login": login[:_MAX_FIELD]}
        ),
    )


@router.post("/password-reset/complete")
def reset_complete(
    request: Request,
    session: DbSession,
    runtime: RuntimeDep,
    clock: ClockDep,
    context: ContextDep,
    code: FormStr = "",
    password: FormStr = "",
) -> Response:
    """Set the new password; then log in with it."""
    flow = _flow(request, runtime, "reset")
    if flow is None:
        expired = InvalidInput(
            "验证已过期，请重新获取验证码", detail_en="This step expired; request a new code"
        )
        return _reset_page(request, session, runtime, step="start", error=expired)

    def run() -> Response:
        _check_lengths(code, password)
        accounts_service.complete_password_reset(
            session=session, clock=clock, login=flow.value, code=code, password=password, context=context
        )
        response = _redirect(_url(request, "/login", notice="accounts_password_reset"))
        flows.clear_cookie(response, runtime)
        clear_session_cookie(response, settings=runtime.settings)
        return response

    return _attempt(run, lambda exc: _reset_page(request, session, runtime, error=exc))


# --- operators ------------------------------------------------------------------------------


@router.get("/operator/users", response_class=HTMLResponse)
def operator_users(request: Request, user: PageOperator, session: DbSession) -> HTMLResponse:
    """List accounts for operators: ids, roles, status, dates; no personal data."""
    return _page(request, "operator_users.html", {"users": accounts_service.list_users(session=session)})
