"""Hand-over (转交): an organisation's agent passes the signing to another authorised agent.

Only an organisation signer (`kind == "org"`) still waiting can hand over, through their own
signing link once they proved control of it. The new agent is named by phone or e-mail and must be
an account that may use the contract's seal for that organisation now
(`orgs_service.can_use_seal`: verified organisation, active seal, member, live grant); anyone else is
refused with the reason. The recipient then belongs to the new agent: a new link is minted (the old
one stops working at once), access granted to the old agent ends, the new agent is told when it is
their turn, and `contract.handed_over` is recorded in the contract's audit chain.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from qianshu.contracts import flow, reminders, signers
from qianshu.contracts.errors import RecipientInvalid, SignerAccessRequired
from qianshu.contracts.models import ContractRecipient
from qianshu.contracts.schemas import RecipientIn
from qianshu.core.clock import Clock
from qianshu.core.deps import RequestContext
from qianshu.core.errors import Conflict, Forbidden
from qianshu.core.ids import new_token
from qianshu.core.logging import get_logger
from qianshu.vault import service as vault_service

__all__ = ["HandoverIn", "HandoverNotAllowed", "HandoverRead", "HandoverRefused", "hand_over"]

log = get_logger("qianshu.contracts")


class HandoverNotAllowed(Conflict):
    """This signer cannot hand over (a person, or already signed or declined)."""

    slug = "contract-handover-not-allowed"
    title = "该签署方不能转交签署"
    title_en = "This signer cannot hand the signing over"


class HandoverRefused(Forbidden):
    """The person named is not an authorised agent of the organisation for this seal."""

    slug = "contract-handover-refused"
    title = "对方不是该企业的授权经办人"
    title_en = "That person is not an authorised agent of the organisation"


class HandoverIn(BaseModel):
    """The new agent's phone or e-mail (the one of their account)."""

    model_config = ConfigDict(extra="forbid")

    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)


class HandoverRead(BaseModel):
    """The hand-over done: the recipient now reaches the new agent (contact masked)."""

    contract_id: str
    recipient_id: str
    contact_masked: str
    notified: bool


def _refuse(reason: str, zh: str, en: str) -> HandoverRefused:
    return HandoverRefused(zh, detail_en=en, reason=reason)


def _account(session: Session, channel: str, contact: str) -> str | None:
    from qianshu.accounts import service as accounts_service

    user = accounts_service.find_user(
        session=session,
        phone=contact if channel == "phone" else None,
        email=contact if channel == "email" else None,
    )
    return user.id if user is not None else None


def _check_agent(session: Session, r: ContractRecipient, channel: str, contact: str) -> str:
    """Return the new agent's account id, or raise HandoverRefused naming why not."""
    from qianshu.orgs import service as orgs_service

    assert r.org_id is not None and r.seal_id is not None
    user_id = _account(session, channel, contact)
    if user_id is None:
        raise _refuse(
            "not_registered",
            "该手机号或邮箱尚未注册，不能接收转交；请对方先注册并加入企业",
            "No account uses that phone or e-mail; the person must register and join the organisation first",
        )
    if orgs_service.member_role(session=session, org_id=r.org_id, user_id=user_id) is None:
        raise _refuse(
            "not_member",
            "对方不是该企业的成员，不能代表企业签署",
            "That person is not a member of the organisation",
        )
    if not orgs_service.can_use_seal(session=session, org_id=r.org_id, user_id=user_id, seal_id=r.seal_id):
        raise _refuse(
            "no_seal_grant",
            "对方没有该印章的使用授权（或授权已过期、印章已停用），不能代表企业签署",
            "That person has no live grant to use this seal (or the seal is not active)",
        )
    return user_id


def hand_over(
    *,
    session: Session,
    clock: Clock,
    token: str,
    data: HandoverIn,
    access: str | None = None,
    user_id: str | None = None,
    context: RequestContext | None = None,
) -> HandoverRead:
    """Hand the organisation's signing over to another authorised agent; the old link stops working."""
    view = signers.view_link(session=session, clock=clock, token=token, access=access, user_id=user_id)
    if not view.access_granted:
        raise SignerAccessRequired()
    if view.recipient.kind != "org":
        raise HandoverNotAllowed(
            "只有企业签署方的经办人可以转交签署", detail_en="Only an organisation's agent can hand over"
        )
    row = flow.lock_contract(session, view.contract_id)
    r = session.get(ContractRecipient, view.recipient.id)
    assert r is not None
    session.refresh(r)
    if r.token_hash != flow.token_hash(token):  # handed over meanwhile
        raise SignerAccessRequired()
    if r.status != "waiting":
        raise HandoverNotAllowed("您已处理过该合同，不能转交", detail_en="You have already acted on this contract")
    flow.require_open(row, clock)
    channel, contact = flow._clean_contact(RecipientIn(phone=data.phone, email=data.email))
    if contact == flow.contact_of(session, r):  # the same person
        raise RecipientInvalid("不能转交给自己", detail_en="That is already this signer's contact")
    new_agent = _check_agent(session, r, channel, contact)
    old_channel, old_contact = r.channel, flow.contact_of(session, r)
    previous = r.user_id or _account(session, old_channel, old_contact)
    token_new = new_token()
    r.channel = channel
    r.contact_enc = flow.seal_text(session, table="contracts_recipient", column="contact", row_id=r.id, value=contact)
    r.contact_bidx = vault_service.blind_index(session=session, kind=channel, value=contact)
    r.token_hash = flow.token_hash(token_new)
    r.token_enc = flow.seal_text(session, table="contracts_recipient", column="token", row_id=r.id, value=token_new)
    r.access_hash, r.access_until, r.user_id = None, None, None
    session.flush()
    flow.record(
        session,
        clock,
        row.id,
        actor=previous or r.id,
        action="contract.handed_over",
        object_id=r.id,
        data={"from_user_id": previous, "to_user_id": new_agent, "org_id": r.org_id, "seal_id": r.seal_id},
        context=context,
    )
    turn = r.routing_order == flow.active_order(flow.recipients_of(session, row.id))
    if turn:  # otherwise the signing request goes out when the group before finishes
        flow.notify_recipient(session, clock, r, "contract_handover", {"token": token_new})
        reminders.note_contact(session, clock, row.id, r.id, reminders.HANDOVER)
    log.info("contract_handed_over", contract_id=row.id, recipient_id=r.id)
    return HandoverRead(
        contract_id=row.id,
        recipient_id=r.id,
        contact_masked=flow.recipient_read(session, r).contact_masked,
        notified=turn,
    )
