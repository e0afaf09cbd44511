"""HTML pages of accounts: register, login (password or SMS code), account, password reset.

Plain POST forms with the CSRF field; success answers 303 (post/redirect/get); a failure renders
the same form again with a readable message, after rolling back anything the attempt wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from qianshu.accounts import flow as flows
from qianshu.accounts import service as accounts_service
from qianshu.accounts.rules import parse_login
from qianshu.core.auth import OptionalUser, PageOperator, PageUser, Principal, clear_session_cookie, set_session_cookie
from qianshu.core.deps import Calling, ContextDep, DbSession, RuntimeDep
from qianshu.core.errors import InvalidInput, QianshuError
from qianshu.core.runtime import Runtime
from qianshu.vault.masking import mask_email, mask_phone
from qianshu.web.acting import attempt as _attempt
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


@dataclass(frozen=True)
class Visit(Calling):
    """A request to the accounts pages, with what the service and the flow cookie take."""

    request: Request
    runtime: Runtime

    def url(self, path: str, **params: str) -> str:
        """Return `path` with `params`, keeping an explicit `?lang=` of this request."""
        return _url(self.request, path, **params)

    def flow(self, purpose: str) -> flows.Flow | None:
        """Return the started flow of `purpose` from its cookie, if any and still valid."""
        cookie = self.request.cookies.get(flows.FLOW_COOKIE)
        return flows.open_flow(self.runtime, cookie, purpose=purpose, now=self.clock.now())


def _visit(request: Request, session: DbSession, runtime: RuntimeDep, context: ContextDep) -> Visit:
    return Visit(session=session, clock=runtime.clock, context=context, request=request, runtime=runtime)


VisitDep = Annotated[Visit, Depends(_visit)]


def _logged_in(v: Visit, new: accounts_service.NewSession, target: str) -> Response:
    response = _redirect(target)
    set_session_cookie(response, token=new.token, settings=v.runtime.settings)
    flows.clear_cookie(response, v.runtime)
    return response


def _expired() -> InvalidInput:
    return InvalidInput("验证已过期，请重新获取验证码", detail_en="This step expired; request a new code")


def _code_step(v: Visit, purpose: str, channel: str, step: str | None) -> dict[str, Any]:
    """Return the context of a two-step form of `purpose`: the start or (with an open flow) the code step."""
    flow = v.flow(purpose)
    if step != "start" and flow is not None:
        step, channel = "code", flow.kind
    else:
        step = "start"
    return {
        "step": step,
        "channel": channel if channel in _CHANNELS else "phone",
        "sent_to": _masked(flow.kind, flow.value) if flow else "",
    }


def _code_sent(v: Visit, flow: flows.Flow, path: str, **params: str) -> Response:
    """Go to the code step at `path`, remembering `flow` in its cookie."""
    response = _redirect(v.url(path, **params))
    flows.set_cookie(response, v.runtime, flow, now=v.clock.now())
    return response


def _new_flow(purpose: str, value: str, next_url: str = "") -> flows.Flow:
    contact = parse_login(value)
    return flows.Flow(purpose, contact.kind, contact.value, next_url)


def _contact_value(channel: str, phone: str, email: str) -> tuple[str, str]:
    """Return the chosen channel (phone unless e-mail) and the contact typed for it."""
    channel = channel if channel in _CHANNELS else "phone"
    return channel, phone if channel == "phone" else email


def _start_code(
    v: Visit,
    purpose: str,
    contact: tuple[str, str],
    send: Callable[..., object],
    page: Callable[..., HTMLResponse],
    path: str,
) -> Response:
    """Send a code with `send(phone=…, email=…)` and go to the code step at `path`, or show `page` with the error."""
    channel, value = contact

    def run() -> Response:
        phone_in, email_in = _split(channel, value)
        send(phone=phone_in, email=email_in)
        return _code_sent(v, _new_flow(purpose, value), path, step="code")

    values = {channel: value[:_MAX_FIELD]}
    return _attempt(run, lambda exc: page(v, channel=channel, step="start", error=exc, values=values))


# --- register -------------------------------------------------------------------------------


def _policy_version(session: Session) -> str | None:
    try:
        return accounts_service.current_policy_version(session=session)
    except QianshuError:
        return None


def _code_page(
    v: Visit,
    purpose: str,
    name: str,
    more: Callable[[], dict[str, Any]] = dict,
    *,
    channel: str = "phone",
    step: str | None = None,
    error: QianshuError | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render a two-step form (`more()` adds to its context once an error's attempt is rolled back)."""
    ctx = _code_step(v, purpose, channel, step)
    if error is not None:
        v.session.rollback()
    ctx["values"] = values or {}
    ctx.update(more())
    return _page(v.request, name, ctx, error=error)


def _register_page(v: Visit, **form: Any) -> HTMLResponse:
    def more() -> dict[str, Any]:
        next_url = safe_next(v.request.query_params.get("next"), "")
        return {"policy_version": _policy_version(v.session), "next": next_url}

    return _code_page(v, "register", "register.html", more, **form)


@router.get("/register", response_class=HTMLResponse)
def register_page(user: OptionalUser, v: VisitDep, channel: str = "phone", step: str | None = None) -> Response:
    """Show registration: step 1 (phone or e-mail, send code) or step 2 (code, password, policy)."""
    if user is not None:
        return _redirect(v.url("/account"))
    return _register_page(v, channel=channel, step=step)


@router.post("/register/start")
def register_start(v: VisitDep, channel: FormStr = "phone", phone: FormStr = "", email: FormStr = "") -> Response:
    """Send the registration code, then show step 2."""
    contact = _contact_value(channel, phone, email)

    def send(**typed: str | None) -> object:
        _check_lengths(contact[1])
        return accounts_service.start_registration(**v.args(**typed))

    return _start_code(v, "register", contact, send, _register_page, "/register")


@router.post("/register/resend")
def register_resend(v: VisitDep) -> Response:
    """Send a new registration code to the same phone or e-mail."""
    flow = v.flow("register")
    if flow is None:
        return _redirect(v.url("/register"))

    def run() -> Response:
        phone_in, email_in = _split(flow.kind, flow.value)
        accounts_service.start_registration(**v.args(phone=phone_in, email=email_in))
        return _code_sent(v, flow, "/register", step="code", notice="accounts_code_resent")

    return _attempt(run, lambda exc: _register_page(v, error=exc))


@router.post("/register/complete")
def register_complete(
    v: VisitDep,
    code: FormStr = "",
    password: FormStr = "",
    display_name: FormStr = "",
    accept_policy: FormStr = "",
    next: FormStr = "",
) -> Response:
    """Create the account, sign in and go to the account page."""
    flow = v.flow("register")
    if flow is None:
        return _register_page(v, step="start", error=_expired())

    def run() -> Response:
        _check_lengths(code, password, display_name, accept_policy)
        phone_in, email_in = _split(flow.kind, flow.value)
        new = accounts_service.complete_registration(
            **v.args(phone=phone_in, email=email_in, code=code, password=password),
            accept_policy_version=accept_policy,
            display_name=display_name or None,
        )
        return _logged_in(v, new, safe_next(next, "") or v.url("/account", notice="accounts_registered"))

    return _attempt(run, lambda exc: _register_page(v, error=exc, values={"display_name": display_name[:64]}))


# --- login ----------------------------------------------------------------------------------


def _login_page(
    v: Visit,
    *,
    tab: str = "password",
    step: str | None = None,
    error: QianshuError | None = None,
    values: dict[str, str] | None = None,
    next_url: str = "",
) -> HTMLResponse:
    flow = v.flow("login") if tab == "sms" else None
    if error is not None:
        v.session.rollback()
    ctx = {
        "tab": tab if tab in ("password", "sms") else "password",
        "step": "code" if flow is not None and step != "start" else "start",
        "sent_to": _masked(flow.kind, flow.value) if flow else "",
        "values": values or {},
        "next": safe_next(next_url or (flow.next if flow else ""), ""),
    }
    return _page(v.request, "login.html", ctx, error=error)


@router.get("/login", response_class=HTMLResponse)
def login_page(
    user: OptionalUser, v: VisitDep, tab: str = "password", step: str | None = None, next: str | None = None
) -> Response:
    """Show login by password or by SMS code."""
    if user is not None:
        return _redirect(safe_next(next, "") or v.url("/account"))
    return _login_page(v, tab=tab, step=step, next_url=next or "")


@router.post("/login")
def login_password(v: VisitDep, login: FormStr = "", password: FormStr = "", next: FormStr = "") -> Response:
    """Log in with phone or e-mail and password."""

    def run() -> Response:
        _check_lengths(login, password)
        new = accounts_service.login_with_password(**v.args(login=login, password=password))
        return _logged_in(v, new, safe_next(next, "") or v.url("/account"))

    values = {"login": login[:_MAX_FIELD]}
    return _attempt(run, lambda exc: _login_page(v, tab="password", error=exc, values=values, next_url=next))


@router.post("/login/sms/start")
def login_sms_start(v: VisitDep, phone: FormStr = "", next: FormStr = "") -> Response:
    """Send the SMS login code, then show the code step."""

    def run() -> Response:
        _check_lengths(phone)
        accounts_service.start_sms_login(**v.args(phone=phone))
        return _code_sent(v, _new_flow("login", phone, safe_next(next, "")), "/login", tab="sms", step="code")

    values = {"phone": phone[:_MAX_FIELD]}
    return _attempt(run, lambda exc: _login_page(v, tab="sms", step="start", error=exc, values=values, next_url=next))


@router.post("/login/sms/resend")
def login_sms_resend(v: VisitDep) -> Response:
    """Send a new SMS login code to the same number."""
    flow = v.flow("login")
    if flow is None:
        return _redirect(v.url("/login", tab="sms"))

    def run() -> Response:
        accounts_service.start_sms_login(**v.args(phone=flow.value))
        return _code_sent(v, flow, "/login", tab="sms", step="code", notice="accounts_code_resent")

    return _attempt(run, lambda exc: _login_page(v, tab="sms", error=exc))


@router.post("/login/sms")
def login_sms(v: VisitDep, code: FormStr = "", next: FormStr = "") -> Response:
    """Log in with the SMS code."""
    flow = v.flow("login")
    if flow is None:
        return _login_page(v, tab="sms", step="start", error=_expired(), next_url=next)

    def run() -> Response:
        _check_lengths(code)
        new = accounts_service.login_with_sms(**v.args(phone=flow.value, code=code))
        return _logged_in(v, new, safe_next(next or flow.next, "") or v.url("/account"))

    return _attempt(run, lambda exc: _login_page(v, tab="sms", error=exc, next_url=next))


def _logged_out(v: Visit) -> Response:
    """Go to the home page without the session cookie."""
    response = _redirect(v.url("/", notice="logged_out"))
    clear_session_cookie(response, settings=v.runtime.settings)
    return response


@router.post("/logout")
def logout(user: OptionalUser, v: VisitDep) -> Response:
    """Log out this device and go to the home page."""
    if user is not None:
        accounts_service.logout(**v.args(principal=user))
    return _logged_out(v)


# --- account --------------------------------------------------------------------------------


def _account_page(v: Visit, user: Principal, error: QianshuError | None = None) -> HTMLResponse:
    if error is not None:
        v.session.rollback()
    ctx = {
        "profile": accounts_service.get_profile(session=v.session, user_id=user.user_id),
        "sessions": accounts_service.list_sessions(
            session=v.session, clock=v.clock, user_id=user.user_id, current_session_id=user.session_id
        ),
    }
    return _page(v.request, "account.html", ctx, error=error)


@router.get("/account", response_class=HTMLResponse)
def account_page(user: PageUser, v: VisitDep) -> HTMLResponse:
    """Show the masked profile, the signed-in devices and links to change password or contacts."""
    return _account_page(v, user)


@router.post("/account/sessions/revoke-others")
def account_revoke_others(user: PageUser, v: VisitDep) -> Response:
    """Log out every other device."""
    accounts_service.revoke_other_sessions(**v.args(user_id=user.user_id, keep_session_id=user.session_id))
    return _redirect(v.url("/account", notice="accounts_sessions_revoked"))


@router.post("/account/sessions/{session_id}/revoke")
def account_revoke_session(session_id: str, user: PageUser, v: VisitDep) -> Response:
    """Log out one device (this one too, which then ends at the home page)."""

    def run() -> Response:
        accounts_service.revoke_session(**v.args(user_id=user.user_id, session_id=session_id[:40]))
        if session_id == user.session_id:
            return _logged_out(v)
        return _redirect(v.url("/account", notice="accounts_session_revoked"))

    return _attempt(run, lambda exc: _account_page(v, user, exc))


@router.get("/account/password", response_class=HTMLResponse)
def password_page(request: Request, user: PageUser) -> HTMLResponse:
    """Show the change-password form."""
    return _page(request, "password_change.html", {})


@router.post("/account/password")
def password_change(
    user: PageUser, v: VisitDep, current_password: FormStr = "", new_password: FormStr = ""
) -> Response:
    """Change the password; other devices are logged out."""

    def run() -> Response:
        _check_lengths(current_password, new_password)
        accounts_service.change_password(
            **v.args(principal=user, current_password=current_password, new_password=new_password)
        )
        return _redirect(v.url("/account", notice="accounts_password_changed"))

    return _attempt(run, lambda exc: _page(v.request, "password_change.html", {}, error=exc, session=v.session))


def _signing_password_page(v: Visit, user: Principal, error: QianshuError | None = None) -> HTMLResponse:
    if error is not None:
        v.session.rollback()
    has = accounts_service.has_signing_password(session=v.session, user_id=user.user_id)
    return _page(v.request, "signing_password.html", {"has_signing_password": has}, error=error)


@router.get("/account/signing-password", response_class=HTMLResponse)
def signing_password_page(user: PageUser, v: VisitDep) -> HTMLResponse:
    """Show the form to set, change or remove the signing password (签署密码)."""
    return _signing_password_page(v, user)


@router.post("/account/signing-password")
def signing_password_set(
    user: PageUser, v: VisitDep, current_password: FormStr = "", signing_password: FormStr = "", confirm: FormStr = ""
) -> Response:
    """Set or change the signing password after the current login password."""

    def run() -> Response:
        _check_lengths(current_password, signing_password, confirm)
        if signing_password != confirm:
            raise InvalidInput("两次输入的签署密码不一致", detail_en="The two signing passwords differ")
        accounts_service.set_signing_password(
            **v.args(principal=user, current_password=current_password, signing_password=signing_password)
        )
        return _redirect(v.url("/account", notice="accounts_signing_password_set"))

    return _attempt(run, lambda exc: _signing_password_page(v, user, exc))


@router.post("/account/signing-password/remove")
def signing_password_remove(user: PageUser, v: VisitDep, current_password: FormStr = "") -> Response:
    """Remove the signing password after the current login password."""

    def run() -> Response:
        _check_lengths(current_password)
        accounts_service.remove_signing_password(**v.args(principal=user, current_password=current_password))
        return _redirect(v.url("/account", notice="accounts_signing_password_removed"))

    return _attempt(run, lambda exc: _signing_password_page(v, user, exc))


def _contact_page(v: Visit, **form: Any) -> HTMLResponse:
    return _code_page(v, "change_contact", "contact_change.html", **form)


@router.get("/account/contact", response_class=HTMLResponse)
def contact_page(user: PageUser, v: VisitDep, channel: str = "phone", step: str | None = None) -> HTMLResponse:
    """Show the change-phone / change-e-mail form."""
    return _contact_page(v, channel=channel, step=step)


@router.post("/account/contact/start")
def contact_start(
    user: PageUser,
    v: VisitDep,
    channel: FormStr = "phone",
    phone: FormStr = "",
    email: FormStr = "",
    password: FormStr = "",
) -> Response:
    """Check the password and send a code to the new phone or e-mail."""
    contact = _contact_value(channel, phone, email)

    def send(**typed: str | None) -> object:
        _check_lengths(contact[1], password)
        return accounts_service.start_contact_change(**v.args(principal=user, password=password, **typed))

    return _start_code(v, "change_contact", contact, send, _contact_page, "/account/contact")


@router.post("/account/contact/complete")
def contact_complete(user: PageUser, v: VisitDep, code: FormStr = "") -> Response:
    """Store the new phone or e-mail once its code is confirmed."""
    flow = v.flow("change_contact")
    if flow is None:
        return _contact_page(v, step="start", error=_expired())

    def run() -> Response:
        _check_lengths(code)
        phone_in, email_in = _split(flow.kind, flow.value)
        accounts_service.complete_contact_change(**v.args(principal=user, code=code, phone=phone_in, email=email_in))
        response = _redirect(v.url("/account", notice="accounts_contact_changed"))
        flows.clear_cookie(response, v.runtime)
        return response

    return _attempt(run, lambda exc: _contact_page(v, error=exc))


# --- password reset -------------------------------------------------------------------------


def _reset_page(
    v: Visit,
    *,
    step: str | None = None,
    error: QianshuError | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    flow = v.flow("reset")
    if error is not None:
        v.session.rollback()
    ctx = {
        "step": "code" if flow is not None and step != "start" else "start",
        "sent_to": _masked(flow.kind, flow.value) if flow else "",
        "values": values or {},
    }
    return _page(v.request, "password_reset.html", ctx, error=error)


@router.get("/password-reset", response_class=HTMLResponse)
def reset_page(v: VisitDep, step: str | None = None) -> HTMLResponse:
    """Show password reset: step 1 (phone or e-mail) or step 2 (code and new password)."""
    return _reset_page(v, step=step)


@router.post("/password-reset/start")
def reset_start(v: VisitDep, login: FormStr = "") -> Response:
    """Send a reset code (the page says the same whether or not the account exists)."""

    def run() -> Response:
        _check_lengths(login)
        accounts_service.start_password_reset(**v.args(login=login))
        return _code_sent(v, _new_flow("reset", login), "/password-reset", step="code")

    values = {"login": login[:_MAX_FIELD]}
    return _attempt(run, lambda exc: _reset_page(v, step="start", error=exc, values=values))


@router.post("/password-reset/complete")
def reset_complete(v: VisitDep, code: FormStr = "", password: FormStr = "") -> Response:
    """Set the new password; then log in with it."""
    flow = v.flow("reset")
    if flow is None:
        return _reset_page(v, step="start", error=_expired())

    def run() -> Response:
        _check_lengths(code, password)
        accounts_service.complete_password_reset(**v.args(login=flow.value, code=code, password=password))
        response = _redirect(v.url("/login", notice="accounts_password_reset"))
        flows.clear_cookie(response, v.runtime)
        clear_session_cookie(response, settings=v.runtime.settings)
        return response

    return _attempt(run, lambda exc: _reset_page(v, error=exc))


# --- operators ------------------------------------------------------------------------------


@router.get("/operator/users", response_class=HTMLResponse)
def operator_users(request: Request, user: PageOperator, session: DbSession) -> HTMLResponse:
    """List accounts for operators: ids, roles, status, dates; no personal data."""
    return _page(request, "operator_users.html", {"users": accounts_service.list_users(session=session)})
