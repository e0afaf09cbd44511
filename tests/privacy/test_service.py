"""The consent ledger: policy versions, the re-consent gate (P1), consent per purpose (P2, P5)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qianshu.core.auth import PolicyConsentRequired
from qianshu.core.clock import FrozenClock
from qianshu.core.deps import RequestContext
from qianshu.core.errors import InvalidInput
from qianshu.core.ids import new_id
from qianshu.core.runtime import Runtime
from qianshu.evidence import service as evidence_service
from qianshu.privacy import service as privacy_service
from qianshu.privacy.models import AppendOnlyError, ConsentRecord, PolicyAcceptance, PrivacyPolicy
from qianshu.privacy.purposes import PURPOSES

CTX = RequestContext(
    request_id="req_consent", ip="192.0.2.44", user_agent="Mozilla/5.0 Consent/1.0", locale="zh-CN"
)


def _publish(session: Session, clock: FrozenClock, version: str, *, major: bool, **kwargs: Any) -> str:
    clock.advance(timedelta(minutes=1))
    policy = privacy_service.publish_policy(
        session=session,
        clock=clock,
        actor="system",
        version=version,
        major=major,
        text=kwargs.pop("text", f"# 隐私政策 {version}\n\n{{{{operator_name}}}} 的政策正文。"),
        **kwargs,
    )
    return policy.id


def _accept(session: Session, clock: FrozenClock, user_id: str, version: str) -> None:
    clock.advance(timedelta(minutes=1))
    privacy_service.record_policy_acceptance(
        session=session, clock=clock, user_id=user_id, version_id=version, context=CTX
    )


def _member(session: Session, clock: FrozenClock) -> str:
    """Return a new user who accepted the policy in force."""
    user = new_id("usr")
    policy = privacy_service.current_policy(session=session)
    privacy_service.record_policy_acceptance(
        session=session, clock=clock, user_id=user, version_id=policy.id, context=None
    )
    return user


# --- the bundled first version --------------------------------------------------------------


def test_first_policy_is_seeded_once(runtime: Runtime, session: Session) -> None:
    assert privacy_service.seed_policies(runtime=runtime) is None  # the runtime fixture seeded it
    policies = privacy_service.list_policies(session=session)
    assert [(p.version, p.major, p.seq) for p in policies] == [("1.0", True, 1)]
    current = privacy_service.current_policy(session=session)
    assert current.id == policies[0].id
    assert privacy_service.get_policy(session=session, version="1.0") == current
    assert privacy_service.get_policy(session=session, version="9.9") is None


@pytest.mark.parametrize(
    "settings_overrides",
    [
        {
            "operator_name": "示例数据服务有限公司",
            "network_log_retention_days": 200,
            "privacy_contact_email": "dpo@example.cn",
        }
    ],
)
def test_seeded_policy_names_this_operator_and_its_settings(session: Session) -> None:
    body = privacy_service.current_policy(session=session).text
    assert "示例数据服务有限公司" in body and "dpo@example.cn" in body
    assert "保存 200 天后自动删除" in body
    assert "{{" not in body
    for foreign in ("腾讯", "亿签", "钜亿", "天威诚信", "foxconn", "tencent", "百度"):
        assert foreign not in body.lower()


def test_seeded_policy_describes_what_the_platform_does(session: Session) -> None:
    body = privacy_service.current_policy(session=session).text
    # Sensitive data needs separate consent (P2), which can be withdrawn (P5); re-consent on update (P1).
    assert "单独作出同意" in body and "撤回" in body and "重新确认" in body
    assert "签署平台运营方" in body  # the default operator name
    assert "保存 183 天后自动删除" in body  # network logs (E5)
    assert "至少保存 5 年" in body  # signing records (P7)


# --- publishing -----------------------------------------------------------------------------


def test_publish_appends_a_version_with_an_audit_event(session: Session, clock: FrozenClock) -> None:
    policy_id = _publish(session, clock, "2.0", major=True, summary="  新增刷脸认证  ")
    policy = privacy_service.current_policy(session=session)
    assert (policy.id, policy.version, policy.seq, policy.major, policy.summary) == (
        policy_id,
        "2.0",
        2,
        True,
        "新增刷脸认证",
    )
    assert "签署平台运营方 的政策正文" in policy.text
    assert [p.version for p in privacy_service.list_policies(session=session)] == ["2.0", "1.0"]
    events = evidence_service.list_events(session=session, stream="system")
    assert events[-1].action == "privacy.policy_published" and events[-1].object_id == policy_id
    assert events[-1].data == {"version": "2.0", "major": True, "text_sha256": policy.text_sha256}


@pytest.mark.parametrize(
    ("version", "body", "error"),
    [
        ("bad version", "文本", InvalidInput),
        ("1_0", "文本", InvalidInput),
        ("current", "文本", InvalidInput),
        ("x" * 40, "文本", InvalidInput),
        ("2.0", "   ", InvalidInput),
        ("2.0", "含未知占位符 {{company}}", InvalidInput),
        ("2.0", "a\x00b", InvalidInput),
        ("1.0", "新的文本", privacy_service.PolicyVersionExists),
    ],
)
def test_publish_rejects_bad_input(
    session: Session, clock: FrozenClock, version: str, body: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        privacy_service.publish_policy(
            session=session, clock=clock, actor="system", version=version, text=body, major=False
        )
    assert len(privacy_service.list_policies(session=session)) == 1


def test_publish_rejects_an_unchanged_text(session: Session, clock: FrozenClock) -> None:
    current = privacy_service.current_policy(session=session)
    with pytest.raises(InvalidInput):
        privacy_service.publish_policy(
            session=session, clock=clock, actor="system", version="1.1", text=current.text, major=False
        )


# --- the re-consent gate (P1) ---------------------------------------------------------------


def test_needs_reconsent_only_for_an_unaccepted_major_version(session: Session, clock: FrozenClock) -> None:
    user = new_id("usr")
    assert privacy_service.needs_reconsent(session=session, user_id=user)  # never accepted anything
    _accept(session, clock, user, "1.0")
    assert not privacy_service.needs_reconsent(session=session, user_id=user)
    _publish(session, clock, "1.1", major=False)
    assert not privacy_service.needs_reconsent(session=session, user_id=user)  # minor: no new consent
    _publish(session, clock, "2.0", major=True)
    assert privacy_service.needs_reconsent(session=session, user_id=user)
    _accept(session, clock, user, "2.0")
    assert not privacy_service.needs_reconsent(session=session, user_id=user)
    _publish(session, clock, "2.1", major=False)
    assert not privacy_service.needs_reconsent(session=session, user_id=user)


def test_accepting_a_later_minor_version_covers_the_major_one(session: Session, clock: FrozenClock) -> None:
    user = new_id("usr")
    _accept(session, clock, user, "1.0")
    _publish(session, clock, "2.0", major=True)
    _publish(session, clock, "2.1", major=False)
    assert privacy_service.needs_reconsent(session=session, user_id=user)
    _accept(session, clock, user, "1.0")  # accepting an old version again changes nothing
    assert privacy_service.needs_reconsent(session=session, user_id=user)
    _accept(session, clock, user, "2.1")
    assert not privacy_service.needs_reconsent(session=session, user_id=user)


def test_acceptance_is_recorded_with_an_encrypted_network_log(session: Session, clock: FrozenClock) -> None:
    user = new_id("usr")
    policy = privacy_service.current_policy(session=session)
    privacy_service.record_policy_acceptance(
        session=session, clock=clock, user_id=user, version_id=policy.id, context=CTX
    )
    row = session.scalar(select(PolicyAcceptance).where(PolicyAcceptance.user_id == user))
    assert row is not None
    assert (row.policy_id, row.accepted_at, row.request_id) == (policy.id, clock.now(), "req_consent")
    assert row.network_log_id is not None
    log = evidence_service.get_network_log(session=session, log_id=row.network_log_id)
    assert log is not None and (log.ip, log.user_agent) == ("192.0.2.44", "Mozilla/5.0 Consent/1.0")
    events = evidence_service.list_events(session=session, stream=f"user:{user}")
    assert [(e.action, e.actor, e.object_id) for e in events] == [
        ("privacy.policy_accepted", user, policy.id)
    ]
    assert events[0].network_log_id == row.network_log_id
    assert [a.version for a in privacy_service.list_acceptances(session=session, user_id=user)] == ["1.0"]


def test_accepting_twice_records_once(session: Session, clock: FrozenClock) -> None:
    user = new_id("usr")
    _accept(session, clock, user, "1.0")
    _accept(session, clock, user, "1.0")
    assert len(privacy_service.list_acceptances(session=session, user_id=user)) == 1
    assert len(evidence_service.list_events(session=session, stream=f"user:{user}")) == 1


def test_accepting_an_unknown_version_fails(session: Session, clock: FrozenClock) -> None:
    with pytest.raises(privacy_service.PolicyNotFound):
        _accept(session, clock, new_id("usr"), "7.0")
    with pytest.raises(privacy_service.PolicyNotFound):
        _accept(session, clock, new_id("usr"), new_id("pol"))
    with pytest.raises(InvalidInput):
        _accept(session, clock, "not-a-user", "1.0")


# --- consent per purpose (P2, P5) -----------------------------------------------------------


def test_grant_withdraw_and_history(session: Session, clock: FrozenClock) -> None:
    user = _member(session, clock)
    purpose = "sensitive.face"
    assert not privacy_service.has_consent(session=session, user_id=user, purpose=purpose)
    privacy_service.grant_consent(session=session, clock=clock, user_id=user, purpose=purpose, context=CTX)
    assert privacy_service.has_consent(session=session, user_id=user, purpose=purpose)
    assert not privacy_service.has_consent(session=session, user_id=user, purpose="sensitive.bank_card")
    clock.advance(timedelta(days=3))
    privacy_service.withdraw_consent(session=session, clock=clock, user_id=user, purpose=purpose, context=CTX)
    assert not privacy_service.has_consent(session=session, user_id=user, purpose=purpose)
    clock.advance(timedelta(days=3))
    privacy_service.grant_consent(session=session, clock=clock, user_id=user, purpose=purpose, context=None)
    assert privacy_service.has_consent(session=session, user_id=user, purpose=purpose)
    history = privacy_service.list_consents(session=session, user_id=user)
    assert [(h.purpose, h.action, h.policy_version) for h in history] == [
        (purpose, "grant", "1.0"),
        (purpose, "withdraw", "1.0"),
        (purpose, "grant", "1.0"),
    ]
    assert history[1].recorded_at - history[0].recorded_at == timedelta(days=3)
    events = evidence_service.list_events(session=session, stream=f"user:{user}")[1:]  # after the acceptance
    assert [e.action for e in events] == [
        "privacy.consent_granted",
        "privacy.consent_withdrawn",
        "privacy.consent_granted",
    ]
    assert all(e.data == {"purpose": purpose} for e in events)
    assert events[0].network_log_id is not None and events[2].network_log_id is None
    assert evidence_service.verify_chains(session=session).ok


def test_decisions_in_the_same_instant_keep_their_order(session: Session, clock: FrozenClock) -> None:
    user = _member(session, clock)
    for _ in range(3):  # the frozen clock never moves: order comes from the ledger's sequence
        privacy_service.grant_consent(
            session=session, clock=clock, user_id=user, purpose="marketing", context=CTX
        )
        privacy_service.withdraw_consent(
            session=session, clock=clock, user_id=user, purpose="marketing", context=CTX
        )
    assert not privacy_service.has_consent(session=session, user_id=user, purpose="marketing")
    assert [h.action for h in privacy_service.list_consents(session=session, user_id=user)] == [
        "grant",
        "withdraw",
    ] * 3


def test_repeated_decisions_are_not_recorded_twice(session: Session, clock: FrozenClock) -> None:
    user = _member(session, clock)
    privacy_service.withdraw_consent(
        session=session, clock=clock, user_id=user, purpose="marketing", context=CTX
    )
    privacy_service.grant_consent(
        session=session, clock=clock, user_id=user, purpose="marketing", context=CTX
    )
    privacy_service.grant_consent(
        session=session, clock=clock, user_id=user, purpose="marketing", context=CTX
    )
    assert [h.action for h in privacy_service.list_consents(session=session, user_id=user)] == ["grant"]


def test_purposes_are_separate_and_known(session: Session, clock: FrozenClock) -> None:
    user = _member(session, clock)
    for purpose in ("sensitive.id_number", "marketing"):
        privacy_service.grant_consent(
            session=session, clock=clock, user_id=user, purpose=purpose, context=CTX
        )
    states = {s.purpose: s for s in privacy_service.consent_states(session=session, user_id=user)}
    assert list(states) == list(PURPOSES)
    assert {p for p, s in states.items() if s.granted} == {"sensitive.id_number", "marketing"}
    assert states["sensitive.face"].sensitive and not states["marketing"].sensitive
    assert states["marketing"].since == clock.now()
    english = privacy_service.consent_states(session=session, user_id=user, locale="en")
    assert english[0].label == PURPOSES[english[0].purpose].label_en
    with pytest.raises(privacy_service.UnknownPurpose):
        privacy_service.grant_consent(
            session=session, clock=clock, user_id=user, purpose="sensitive.dna", context=CTX
        )
    with pytest.raises(privacy_service.UnknownPurpose):
        privacy_service.has_consent(session=session, user_id=user, purpose="")


def test_new_consent_needs_the_policy_accepted_but_withdrawal_never_does(
    session: Session, clock: FrozenClock
) -> None:
    user = new_id("usr")
    with pytest.raises(PolicyConsentRequired):
        privacy_service.grant_consent(
            session=session, clock=clock, user_id=user, purpose="marketing", context=CTX
        )
    _accept(session, clock, user, "1.0")
    privacy_service.change_consent(
        session=session, clock=clock, user_id=user, purpose="sensitive.face", grant=True, context=CTX
    )
    _publish(session, clock, "2.0", major=True)
    with pytest.raises(PolicyConsentRequired):
        privacy_service.change_consent(
            session=session, clock=clock, user_id=user, purpose="marketing", grant=True, context=CTX
        )
    privacy_service.change_consent(
        session=session, clock=clock, user_id=user, purpose="sensitive.face", grant=False, context=CTX
    )
    assert [(h.purpose, h.action) for h in privacy_service.list_consents(session=session, user_id=user)] == [
        ("sensitive.face", "grant"),
        ("sensitive.face", "withdraw"),
    ]


# --- append-only ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE privacy_consent SET action = 'grant'",
        "DELETE FROM privacy_consent",
        "UPDATE privacy_policy_acceptance SET accepted_at = accepted_at",
        "DELETE FROM privacy_policy_acceptance",
        "UPDATE privacy_policy SET text = 'rewritten'",
        "DELETE FROM privacy_policy",
    ],
)
def test_database_refuses_to_change_the_ledger(
    runtime: Runtime, session: Session, clock: FrozenClock, statement: str
) -> None:
    user = new_id("usr")
    _accept(session, clock, user, "1.0")
    privacy_service.grant_consent(
        session=session, clock=clock, user_id=user, purpose="marketing", context=CTX
    )
    privacy_service.withdraw_consent(
        session=session, clock=clock, user_id=user, purpose="marketing", context=CTX
    )
    session.commit()
    with pytest.raises(IntegrityError, match="append-only"), runtime.engine.begin() as conn:
        conn.execute(text(statement))
    assert [h.action for h in privacy_service.list_consents(session=session, user_id=user)] == [
        "grant",
        "withdraw",
    ]
    assert len(privacy_service.list_acceptances(session=session, user_id=user)) == 1
    assert privacy_service.current_policy(session=session).text != "rewritten"


@pytest.mark.parametrize("model", [ConsentRecord, PolicyAcceptance, PrivacyPolicy])
def test_orm_refuses_to_change_the_ledger(session: Session, clock: FrozenClock, model: type[Any]) -> None:
    user = new_id("usr")
    _accept(session, clock, user, "1.0")
    privacy_service.grant_consent(
        session=session, clock=clock, user_id=user, purpose="marketing", context=CTX
    )
    session.commit()
    row = session.scalars(select(model)).first()
    assert row is not None
    session.delete(row)
    with pytest.raises(AppendOnlyError):
        session.flush()
    session.rollback()
    row = session.scalars(select(model)).first()
    assert row is not None
    row.id = "changed"
    with pytest.raises(AppendOnlyError):
        session.flush()
    session.rollback()
