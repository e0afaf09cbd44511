"""A signer's path through a signing link: access, intent (签署意愿), signature, completion.

1. The link's token (unguessable, stored only as a hash) names one recipient.
2. The signer proves control of that recipient's phone or e-mail with a one-time code (or is
   signed in as the account registered with it); a stolen link alone is worth nothing.
3. Signing needs the platform's verification level (identity), the recipient's turn in the
   routing order, the required fields, and a confirmation of intent: a *fresh* one-time code or
   the person's signing password (签署密码), as the operator's `signing_intent_methods` allows; the
   trail records which (`contract.intent_confirmed`), never the secret. Only then is
   the signer's custody key used (C4): a PAdES B-T incremental update through the signing domain.
4. Writers of one contract are serialised (`flow.lock_contract`), so parallel signers each sign
   over the other's update and no signature is lost. The last signature completes the document to
   B-LTA, logs the audit chain head and the document hashes in the transparency log, and tells
   every party.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.contracts import approvals, flow, webhooks
from qianshu.contracts.errors import (
    ContractState,
    FieldInvalid,
    LinkInvalid,
    NotYourTurn,
    SignerAccessRequired,
    SignerAlreadySigned,
    SignerMismatch,
    SignerNotRegistered,
)
from qianshu.contracts.models import Contract, ContractDocument, ContractField, ContractRecipient
from qianshu.contracts.schemas import SIGNATURE_KINDS, AccessRead, SignerView, SignIn
from qianshu.core.clock import Clock, as_utc
from qianshu.core.deps import RequestContext
from qianshu.core.errors import InvalidInput
from qianshu.core.ids import new_token
from qianshu.core.logging import get_logger
from qianshu.core.runtime import runtime_of
from qianshu.storage import service as storage_service

log = get_logger("qianshu.contracts")

ACCESS_PURPOSE = "contract_access"
INTENT_PURPOSE = "contract_intent"
FACE_INTENT_PURPOSE = "contract_intent_face"  # the single-use ticket a matching face check earns
ACCESS_TTL = timedelta(minutes=30)
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
_MAX_TEXT = 500


def _recipient(session: Session, token: str) -> ContractRecipient:
    if not _TOKEN_RE.fullmatch(token or ""):
        raise LinkInvalid()
    row = session.scalar(
        select(ContractRecipient)
        .where(ContractRecipient.token_hash == flow.token_hash(token))
        .execution_options(populate_existing=True)
    )
    if row is None or row.role != "signer":
        raise LinkInvalid()
    contract = flow.contract_row(session, row.contract_id)
    if contract.status == "draft":
        raise LinkInvalid()
    return row


def _access_hash(access: str) -> str:
    return hashlib.sha256(f"contracts.access.v1:{access}".encode()).hexdigest()


def _has_access(r: ContractRecipient, access: str | None, clock: Clock) -> bool:
    if not access or r.access_hash is None or r.access_until is None:
        return False
    if as_utc(r.access_until) <= clock.now():
        return False
    return hmac.compare_digest(_access_hash(access), r.access_hash)


def _account_of(session: Session, r: ContractRecipient) -> str | None:
    from qianshu.accounts import service as accounts_service

    contact = flow.contact_of(session, r)
    user = accounts_service.find_user(
        session=session,
        phone=contact if r.channel == "phone" else None,
        email=contact if r.channel == "email" else None,
    )
    return user.id if user is not None else None


def _authorise(
    session: Session, clock: Clock, r: ContractRecipient, *, access: str | None, user_id: str | None
) -> str | None:
    """Return the recipient's account id once access is proven; raise otherwise."""
    if _has_access(r, access, clock):
        return _account_of(session, r)
    if user_id is not None:
        if _account_of(session, r) != user_id:
            raise SignerMismatch()
        return user_id
    raise SignerAccessRequired()


def _send_code(
    session: Session,
    clock: Clock,
    r: ContractRecipient,
    *,
    purpose: str,
    template: str,
    action: str,
    context: RequestContext | None,
) -> str:
    """Send a one-time code to the recipient, write `action` to the trail; return the masked contact."""
    code = _issue_code(session, clock, r, purpose=purpose, user_id=None, context=context)
    minutes = max(1, runtime_of(session).settings.otp_ttl_seconds // 60)
    flow.notify_recipient(session, clock, r, template, {"code": code, "minutes": minutes})
    flow.record(session, clock, r.contract_id, actor=r.id, action=action, object_id=r.id, context=context)
    return flow.recipient_read(session, r).contact_masked


def _issue_code(
    session: Session,
    clock: Clock,
    r: ContractRecipient,
    *,
    purpose: str,
    user_id: str | None,
    context: RequestContext | None,
    delivered: bool = True,
) -> str:
    """Return a new one-time code for the recipient (bound to `user_id` when given).

    The caller sends it (`delivered`), or hands it back in its answer (a face check's ticket).
    """
    from qianshu.accounts import service as accounts_service

    return accounts_service.issue_code(
        session=session,
        clock=clock,
        purpose=purpose,
        channel=r.channel,
        target_bidx=r.id,
        user_id=user_id,
        client_ip=context.ip if context is not None else None,
        delivered=delivered,
    ).code


def _verify_code(session: Session, clock: Clock, r: ContractRecipient, *, purpose: str, code: str) -> None:
    from qianshu.accounts import service as accounts_service

    accounts_service.verify_code(session=session, clock=clock, purpose=purpose, target_bidx=r.id, code=code)


def view_link(
    *, session: Session, clock: Clock, token: str, access: str | None = None, user_id: str | None = None
) -> SignerView:
    """Return what the link shows; `access_granted` tells whether the signer proved their contact."""
    r = _recipient(session, token)
    granted, _account = _authorised(session, clock, r, access=access, user_id=user_id)
    return _signer_view(session, r, granted=granted)


def sign_page_view(
    *, session: Session, clock: Clock, token: str, access: str | None = None, user_id: str | None = None
) -> tuple[SignerView, tuple[str, ...], bool]:
    """Return what the sign page needs with one look-up of the link.

    The link's view (`view_link`), the intent methods the operator allows, and whether this signer
    has set a signing password (only known once access is proven).
    """
    from qianshu.accounts import service as accounts_service

    r = _recipient(session, token)
    granted, account = _authorised(session, clock, r, access=access, user_id=user_id)
    has = account is not None and accounts_service.has_signing_password(session=session, user_id=account)
    return _signer_view(session, r, granted=granted), runtime_of(session).settings.intent_methods, has


def _authorised(
    session: Session, clock: Clock, r: ContractRecipient, *, access: str | None, user_id: str | None
) -> tuple[bool, str | None]:
    """Return whether access is proven, and the recipient's account id when it is."""
    try:
        return True, _authorise(session, clock, r, access=access, user_id=user_id)
    except (SignerAccessRequired, SignerMismatch):
        return False, None


def _signer_view(session: Session, r: ContractRecipient, *, granted: bool) -> SignerView:
    row = flow.contract_row(session, r.contract_id)
    recipients = flow.recipients_of(session, row.id)
    order = flow.active_order(recipients)
    fields = [f for f in flow.fields_of(session, row.id) if f.recipient_id == r.id]
    return SignerView(
        contract_id=row.id,
        title=flow.title_of(session, row) if granted else "",
        status=row.status,  # type: ignore[arg-type]  # the column holds ContractStatus values
        recipient=flow.recipient_read(session, r),
        fields=[flow.field_read(f) for f in fields],
        your_turn=row.status == "sent" and r.status == "waiting" and r.routing_order == order,
        access_granted=granted,
        deadline=row.deadline,
    )


def request_access_code(*, session: Session, clock: Clock, token: str, context: RequestContext | None = None) -> str:
    """Send a one-time code to the recipient's phone or e-mail; return the masked contact."""
    r = _recipient(session, token)
    return _send_code(
        session,
        clock,
        r,
        purpose=ACCESS_PURPOSE,
        template="otp_contract_access",
        action="contract.access_code_sent",
        context=context,
    )


def grant_access(
    *, session: Session, clock: Clock, token: str, code: str, context: RequestContext | None = None
) -> AccessRead:
    """Check the access code and return a short-lived access secret bound to this recipient."""
    r = _recipient(session, token)
    _verify_code(session, clock, r, purpose=ACCESS_PURPOSE, code=code)
    access = new_token()
    r.access_hash, r.access_until = _access_hash(access), clock.now() + ACCESS_TTL
    session.flush()
    flow.record(session, clock, r.contract_id, actor=r.id, action="contract.viewed", object_id=r.id, context=context)
    webhooks.emit(session, clock, flow.contract_row(session, r.contract_id), "recipient.viewed", recipient=r)
    return AccessRead(access=access, expires_at=r.access_until)


def request_intent_code(
    *,
    session: Session,
    clock: Clock,
    token: str,
    access: str | None = None,
    user_id: str | None = None,
    context: RequestContext | None = None,
) -> str:
    """Send the fresh code that confirms the intent to sign (签署意愿); return the masked contact."""
    r = _recipient(session, token)
    _authorise(session, clock, r, access=access, user_id=user_id)
    row = flow.contract_row(session, r.contract_id)
    flow.require_open(row, clock)
    return _send_code(
        session,
        clock,
        r,
        purpose=INTENT_PURPOSE,
        template="otp_contract_sign",
        action="contract.intent_code_sent",
        context=context,
    )


def confirm_face(
    *,
    session: Session,
    clock: Clock,
    token: str,
    photo: bytes,
    consent: bool = False,
    access: str | None = None,
    user_id: str | None = None,
    context: RequestContext | None = None,
) -> str:
    """Check the signer's live photo against their ID record (人脸核验); return a single-use intent ticket.

    The ticket is a one-time code bound to this recipient and account, valid as long as a sent
    code; `sign` takes it with `intent_method` "face". The provider call and its sharing-register
    entry happen before this transaction writes anything (identity's `confirm_face`).
    """
    from qianshu.identity import service as identity_service

    _require_method(session, "face")
    r = _recipient(session, token)
    account = _authorise(session, clock, r, access=access, user_id=user_id)
    if account is None:
        raise SignerNotRegistered(register_url="/register")
    _check_turn(session, clock, flow.contract_row(session, r.contract_id), r)  # before the face leaves
    identity_service.confirm_face(
        session=session, clock=clock, user_id=account, photo=photo, consent=consent, object_id=r.id, context=context
    )
    ticket = _issue_code(
        session, clock, r, purpose=FACE_INTENT_PURPOSE, user_id=account, context=context, delivered=False
    )
    flow.record(
        session, clock, r.contract_id, actor=account, action="contract.face_checked", object_id=r.id, context=context
    )
    return ticket


def _require_method(session: Session, method: str) -> None:
    allowed = runtime_of(session).settings.intent_methods
    if method not in allowed:
        raise InvalidInput(
            "该签署意愿确认方式未被启用",
            detail_en="This way of confirming the intent to sign is not enabled: use " + " or ".join(allowed),
            allowed=list(allowed),
        )


def _check_values(fields: list[ContractField], values: dict[str, str]) -> dict[str, str]:
    own = {f.id: f for f in fields if f.kind not in SIGNATURE_KINDS}
    unknown = sorted(set(values) - set(own))
    if unknown:
        raise FieldInvalid(
            "提交了不属于您的填写项", detail_en="Values for fields that are not yours: " + ", ".join(unknown)
        )
    clean: dict[str, str] = {}
    for fid, f in own.items():
        value = (values.get(fid) or "").strip()
        if f.kind == "checkbox":
            if value not in ("", "true", "false"):
                raise FieldInvalid("勾选项的值只能是 true 或 false", detail_en="A checkbox is true or false")
            if f.required and value != "true":
                raise FieldInvalid("请勾选必选项", detail_en="A required checkbox is not ticked")
        elif f.kind == "date" and value:
            try:
                value = date.fromisoformat(value).isoformat()  # drawn and stored as YYYY-MM-DD
            except ValueError:
                raise FieldInvalid("日期格式应为 YYYY-MM-DD", detail_en="Dates are YYYY-MM-DD") from None
        if len(value) > _MAX_TEXT or any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in value):
            raise FieldInvalid("填写内容过长或含有控制字符", detail_en="A value is too long or has control characters")
        if f.required and not value:
            raise FieldInvalid("请完成所有必填项", detail_en="A required field is empty")
        if value:
            clean[fid] = value
    return clean


def org_seal_appearance(session: Session, r: ContractRecipient, user_id: str, *, cross_page: bool) -> object:
    """Return the organisation's seal appearance, only while `user_id` may use the seal."""
    from qianshu.orgs import service as orgs_service
    from qianshu.signing.schemas import SealAppearance

    assert r.org_id is not None and r.seal_id is not None
    image = orgs_service.seal_image_for_signing(session=session, org_id=r.org_id, user_id=user_id, seal_id=r.seal_id)
    if cross_page:
        document = session.get(ContractDocument, flow.contract_row(session, r.contract_id).document_id)
        if document is None or len(document.pages) < 2:
            raise InvalidInput("骑缝章需要至少两页的文档", detail_en="A cross-page seal needs at least two pages")
    return SealAppearance(image_png=image, cross_page=cross_page)


def _appearance(session: Session, r: ContractRecipient, user_id: str, data: SignIn) -> object:
    from qianshu.identity import service as identity_service
    from qianshu.signing import service as signing_service
    from qianshu.signing.schemas import HandwritingAppearance, TextAppearance

    if r.kind == "org":
        return org_seal_appearance(session, r, user_id, cross_page=data.cross_page_seal)
    if data.cross_page_seal:
        raise InvalidInput("个人签署方不能加盖骑缝章", detail_en="Person signers cannot apply a cross-page seal")
    if data.appearance == "seal":
        raise InvalidInput("个人签署方不能使用印章", detail_en="Person signers cannot use a seal")
    if data.appearance == "handwriting":
        try:
            raw = base64.b64decode(data.handwriting_png_b64 or "", validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if not raw:
            raise InvalidInput("请提供手写签名图片（PNG）", detail_en="Provide the handwritten signature as a PNG")
        return HandwritingAppearance(image_png=signing_service.prepare_handwriting(raw))
    name = identity_service.verified_name(session=session, user_id=user_id)
    return TextAppearance(signer_name=name[:64] if name else None)


def sign(
    *,
    session: Session,
    clock: Clock,
    token: str,
    data: SignIn,
    access: str | None = None,
    user_id: str | None = None,
    context: RequestContext | None = None,
) -> SignerView:
    """Sign for the link's recipient after every check; complete the contract when the last one signs."""
    from qianshu.identity import service as identity_service
    from qianshu.pki import service as pki_service

    r = _recipient(session, token)
    row = flow.contract_row(session, r.contract_id)
    _check_turn(session, clock, row, r)
    account = _authorise(session, clock, r, access=access, user_id=user_id)
    if account is None:
        raise SignerNotRegistered(register_url="/register")
    identity_service.require_signing_identity(session=session, user_id=account)
    fields = [f for f in flow.fields_of(session, row.id) if f.recipient_id == r.id]
    values = _check_values(fields, data.values)
    appearance = _appearance(session, r, account, data)
    cert = pki_service.require_signing_certificate(
        session=session, clock=clock, subject_id=r.org_id if r.kind == "org" and r.org_id else account
    )
    # Intent is confirmed last, right before the key is used.
    _confirm_intent(session, clock, r, account, data, context)
    row = flow.lock_contract(session, r.contract_id)
    session.refresh(r)
    _check_turn(session, clock, row, r)
    if approvals.needs_approval(session, r):  # 用印审批: the keeper's approval applies the signature
        approvals.request_approval(
            session, clock, r, agent_id=account, values=values, cross_page=data.cross_page_seal, context=context
        )
    else:
        _apply_signature(session, clock, row, r, fields, values, appearance, cert, account, context)
    return view_link(session=session, clock=clock, token=token, user_id=account)


def _confirm_intent(
    session: Session, clock: Clock, r: ContractRecipient, account: str, data: SignIn, context: RequestContext | None
) -> None:
    """Check the signer's proof of intent (签署意愿) by the chosen, operator-allowed method."""
    from qianshu.accounts import service as accounts_service

    _require_method(session, data.intent_method)
    if data.intent_method == "password":
        if not data.password:
            raise InvalidInput("请输入签署密码", detail_en="Enter your signing password")
        accounts_service.verify_signing_password(
            session=session, clock=clock, user_id=account, password=data.password, context=context
        )
    elif data.intent_method == "face":
        if not data.code:
            raise InvalidInput("请先完成人脸核验", detail_en="Take the face check first")
        accounts_service.verify_code(
            session=session, clock=clock, purpose=FACE_INTENT_PURPOSE, target_bidx=r.id, code=data.code, user_id=account
        )
    else:
        if not data.code:
            raise InvalidInput("请输入签署验证码", detail_en="Enter the signing code")
        _verify_code(session, clock, r, purpose=INTENT_PURPOSE, code=data.code)
    flow.record(
        session,
        clock,
        r.contract_id,
        actor=account,
        action="contract.intent_confirmed",
        object_id=r.id,
        data={"method": data.intent_method},
        context=context,
    )


def _check_turn(session: Session, clock: Clock, row: Contract, r: ContractRecipient) -> None:
    if r.status == "signed":
        raise SignerAlreadySigned()
    if r.status == "declined":
        raise ContractState("您已拒签该合同", detail_en="You declined this contract")
    if r.status == approvals.AWAITING:
        raise ContractState("用印申请正在等待印章管理员审批", detail_en="The seal use is waiting for approval")
    flow.require_open(row, clock)
    if r.routing_order != flow.active_order(flow.recipients_of(session, row.id)):
        raise NotYourTurn()


def _apply_signature(
    session: Session,
    clock: Clock,
    row: Contract,
    r: ContractRecipient,
    fields: list[ContractField],
    values: dict[str, str],
    appearance: object,
    cert: object,
    account: str,
    context: RequestContext | None,
) -> None:
    from qianshu.pki import service as pki_service
    from qianshu.pki.schemas import CertificateRead
    from qianshu.signing import service as signing_service
    from qianshu.signing.schemas import FieldValue, Rect

    assert isinstance(cert, CertificateRead)
    runtime = runtime_of(session)
    spot = next(f for f in fields if f.kind in SIGNATURE_KINDS)
    current = storage_service.read_blob_bytes(session=session, blob_id=row.current_blob_id)
    signed = signing_service.sign_pdf(
        runtime=runtime,
        session=session,
        data=current,
        key_label=cert.key_label,
        cert_der=cert.der,
        chain_der=pki_service.ca_chain(session=session),
        field_name=f"Signature_{r.id}",
        appearance=appearance,  # type: ignore[arg-type]  # built by _appearance from signing's schemas
        page=spot.page,
        rect=Rect(x1=spot.x1, y1=spot.y1, x2=spot.x2, y2=spot.y2),
        reason="盖章" if r.kind == "org" else "签署",
        location="中国",
        values=[  # drawn as part of this signature, so they are signed with it
            FieldValue(
                kind=f.kind,  # type: ignore[arg-type]  # a non-signature kind: text, date or checkbox
                page=f.page,
                rect=Rect(x1=f.x1, y1=f.y1, x2=f.x2, y2=f.y2),
                value=values[f.id],
            )
            for f in fields
            if f.id in values and f.kind not in SIGNATURE_KINDS
        ],
    )
    blob = storage_service.store_blob(
        session=session, clock=clock, owner_id=flow.SYSTEM, stream=signed, media_type="application/pdf"
    )
    now = clock.now()
    for f in fields:
        if f.id in values:
            f.value_enc = flow.seal_text(
                session, table="contracts_field", column="value", row_id=f.id, value=values[f.id]
            )
            f.filled_at = now
        elif f.kind in SIGNATURE_KINDS:
            f.filled_at = now
    r.status, r.signed_at, r.user_id = "signed", now, account
    row.current_blob_id = blob.id
    row.signatures += 1
    session.flush()
    flow.record(
        session,
        clock,
        row.id,
        actor=account,
        action="contract.signed",
        object_id=r.id,
        data={
            "certificate_id": cert.id,
            "certificate_serial": cert.serial,
            "sha256": blob.sha256,
            "appearance": getattr(appearance, "kind", "text"),
            "fields_filled": len(values),
            "values_sha256": hashlib.sha256(repr(sorted(values.items())).encode()).hexdigest(),
        },
        context=context,
    )
    log.info("contract_signed", contract_id=row.id, recipient_id=r.id, signatures=row.signatures)
    webhooks.emit(session, clock, row, "recipient.signed", recipient=r)
    if flow.active_order(flow.recipients_of(session, row.id)) is None:
        _complete(session, clock, row, signed)
    else:
        flow.notify_next_group(session, clock, row.id, done_order=r.routing_order)


apply_signature = _apply_signature  # seal-use approval finishes a confirmed signature (approvals)


def _complete(session: Session, clock: Clock, row: Contract, signed: bytes) -> None:
    """Complete to PAdES B-LTA, record the completion and log chain head + hashes publicly (E2)."""
    from qianshu.evidence import service as evidence_service
    from qianshu.evidence import translog
    from qianshu.signing import service as signing_service

    runtime = runtime_of(session)
    final = signing_service.complete_document(runtime=runtime, data=signed, session=session)
    blob = storage_service.store_blob(
        session=session, clock=clock, owner_id=flow.SYSTEM, stream=final, media_type="application/pdf"
    )
    row.signed_blob_id, row.signed_sha256, row.current_blob_id = blob.id, blob.sha256, blob.id
    row.status, row.finished_at = "completed", clock.now()
    session.flush()
    flow.record(
        session,
        clock,
        row.id,
        actor="system",
        action="contract.completed",
        data={"signed_sha256": blob.sha256, "signatures": row.signatures},
    )
    webhooks.emit(session, clock, row, "contract.completed")
    head = evidence_service.chain_head(session=session, stream=flow.stream(row.id))
    leaf = translog.append_entry(
        session=session,
        clock=clock,
        entry={
            "type": "contract.completed",
            "contract_id": row.id,
            "audit_head": head,
            "original_sha256": row.original_sha256,
            "signed_sha256": blob.sha256,
            "signatures": row.signatures,
        },
    )
    row.log_entry_id = leaf.entry_id
    session.flush()
    for r in flow.recipients_of(session, row.id):
        flow.notify_recipient(session, clock, r, "contract_completed", {"contract": row.id})
    log.info("contract_completed", contract_id=row.id, log_entry_id=leaf.entry_id)


def decline(
    *,
    session: Session,
    clock: Clock,
    token: str,
    reason: str,
    access: str | None = None,
    user_id: str | None = None,
    context: RequestContext | None = None,
) -> SignerView:
    """Decline to sign (拒签) with a reason; the contract ends as declined."""
    r = _recipient(session, token)
    _authorise(session, clock, r, access=access, user_id=user_id)
    row = flow.lock_contract(session, r.contract_id)
    session.refresh(r)
    if r.status != "waiting":
        raise ContractState("您已处理过该合同", detail_en="You have already acted on this contract")
    flow.require_open(row, clock)
    flow.decline(session, clock, row, r, reason, context)
    return view_link(session=session, clock=clock, token=token, access=access, user_id=user_id)


def link_pdf(
    *,
    session: Session,
    clock: Clock,
    token: str,
    access: str | None = None,
    user_id: str | None = None,
    context: RequestContext | None = None,
    action: str = "contract.downloaded",
) -> bytes:
    """Return the document as it stands (the signed PDF once completed) to the proven recipient.

    `action` names the audit event: `contract.downloaded`, or `contract.document_viewed` when the
    signing page shows it inline.
    """
    if action not in ("contract.downloaded", "contract.document_viewed"):
        raise ValueError(action)
    r = _recipient(session, token)
    _authorise(session, clock, r, access=access, user_id=user_id)
    row = flow.contract_row(session, r.contract_id)
    data = storage_service.read_blob_bytes(session=session, blob_id=row.current_blob_id)
    flow.record(session, clock, row.id, actor=r.id, action=action, object_id=r.id, context=context)
    return data
