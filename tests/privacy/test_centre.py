"""The privacy centre (P3, P5, P9, P10, P17): sections by domain, masking, staff access, consents."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from qianshu.core.clock import FrozenClock
from qianshu.core.errors import InvalidInput
from qianshu.core.runtime import Runtime
from qianshu.privacy import centre, preferences, sharing
from qianshu.privacy import service as privacy_service
from qianshu.privacy import staff as staff_module
from qianshu.privacy.centre_schemas import DataField, DataSection
from qianshu.privacy.errors import StaffRoleRequired
from tests.privacy.centre_support import CHEAP_HASHING, Outbox, install_outbox, make_operator, register_user

PHONE = "13800138401"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return dict(CHEAP_HASHING)


@pytest.fixture
def outbox(monkeypatch: pytest.MonkeyPatch) -> Outbox:
    return install_outbox(monkeypatch)


@pytest.fixture
def identity_section() -> Iterator[None]:
    """A stand-in identity domain contributing a sensitive section."""

    def provider(*, session: Any, user_id: str) -> dict[str, Any]:
        return {
            "fields": [
                DataField(
                    name="real_name",
                    label="真实姓名",
                    label_en="Name",
                    value="赵六",
                    mask="name",
                    sensitive=True,
                    correct="reverify",
                ).model_dump(),
                DataField(
                    name="id_number",
                    label="身份证件号码",
                    label_en="ID number",
                    value="11010519491231002X",
                    mask="id_number",
                    sensitive=True,
                    correct="reverify",
                ).model_dump(),
            ]
        }

    centre.register_section("identity", provider)
    yield
    centre.unregister_section("identity")


def test_sections_come_from_each_domain_and_missing_domains_are_absent(
    runtime: Runtime, outbox: Outbox, clock: FrozenClock
) -> None:
    user = register_user(runtime, outbox, PHONE, name="赵六")
    with runtime.transaction() as s:
        data = centre.my_data(session=s, clock=clock, user_id=user)
    keys = [sec.key for sec in data.sections]
    assert keys[0] == "accounts" and "identity" not in keys and "contracts" not in keys
    assert {
        "devices",
        "consents",
        "preferences",
        "shared_with",
        "staff_access",
        "evidence",
        "requests",
    } <= set(keys)
    phone = next(f for f in data.sections[0].fields if f.name == "phone")
    assert phone.value == PHONE and phone.correct == "self"


def test_owner_sees_clear_values_everyone_else_masked(
    runtime: Runtime, outbox: Outbox, clock: FrozenClock, identity_section: None
) -> None:
    user = register_user(runtime, outbox, PHONE, name="赵六")
    with runtime.transaction() as s:
        mine = centre.my_data(session=s, clock=clock, user_id=user)
        theirs = centre.subject_data_masked(session=s, clock=clock, user_id=user)
    assert "11010519491231002X" in mine.model_dump_json() and PHONE in mine.model_dump_json()
    dumped = theirs.model_dump_json()
    assert "11010519491231002X" not in dumped and PHONE not in dumped and "赵六" not in dumped
    identity = next(sec for sec in theirs.sections if sec.key == "identity")
    assert [f.value for f in identity.fields] == ["赵*", "1101**********002X"]


def test_staff_see_clear_data_only_with_a_reason_and_their_roles_and_the_person_sees_it(
    runtime: Runtime, outbox: Outbox, clock: FrozenClock, identity_section: None
) -> None:
    user = register_user(runtime, outbox, PHONE, name="赵六")
    support = make_operator(runtime, "support@example.com", ("support",))
    reviewer = make_operator(runtime, "review@example.com", ("reviewer",))
    with runtime.transaction() as s:
        roles = staff_module.staff_roles(session=s, principal=support)
        with pytest.raises(InvalidInput):
            centre.reveal_for_staff(
                session=s,
                clock=clock,
                staff_id=support.user_id,
                staff_roles=roles,
                user_id=user,
                reason="curiosity",
            )
        view = centre.reveal_for_staff(
            session=s,
            clock=clock,
            staff_id=support.user_id,
            staff_roles=roles,
            user_id=user,
            reason="support_ticket",
            note="用户来电要求核对手机号",
        )
    dumped = view.model_dump_json()
    assert PHONE in dumped and "11010519491231002X" not in dumped  # support: contact yes, identity no
    with runtime.transaction() as s:
        roles = staff_module.staff_roles(session=s, principal=reviewer)
        view = centre.reveal_for_staff(
            session=s,
            clock=clock,
            staff_id=reviewer.user_id,
            staff_roles=roles,
            user_id=user,
            reason="identity_review",
        )
    assert "11010519491231002X" in view.model_dump_json() and PHONE not in view.model_dump_json()
    with runtime.transaction() as s:
        mine = centre.my_data(session=s, clock=clock, user_id=user)
    (access_section,) = [sec for sec in mine.sections if sec.key == "staff_access"]
    reasons = {r["staff_id"]: (r["reason"], r["note"]) for r in access_section.records}
    assert reasons[support.user_id] == ("应您的要求提供客户服务", "用户来电要求核对手机号")
    assert reasons[reviewer.user_id][0] == "实名认证人工审核"
    assert "identity.id_number" in next(
        r["fields"] for r in access_section.records if r["staff_id"] == reviewer.user_id
    )


def test_least_privilege_roles_and_their_management(
    runtime: Runtime, outbox: Outbox, clock: FrozenClock
) -> None:
    user = register_user(runtime, outbox, PHONE)
    officer = make_operator(runtime, "dpo@example.com", ("privacy_officer",))
    security = make_operator(runtime, "sec@example.com", ("security",))
    with runtime.transaction() as s:
        assert staff_module.has_permission(session=s, principal=officer, permission="staff.manage")
        assert not staff_module.has_permission(session=s, principal=security, permission="pi.reveal.contact")
        assert staff_module.has_permission(session=s, principal=security, permission="incidents.manage")
        with pytest.raises(InvalidInput):  # ordinary users never get staff roles
            staff_module.grant_role(
                session=s, clock=clock, actor=officer.user_id, user_id=user, role="support"
            )
        with pytest.raises(InvalidInput):
            staff_module.grant_role(
                session=s, clock=clock, actor=officer.user_id, user_id=security.user_id, role="god"
            )
        staff_module.revoke_role(
            session=s, clock=clock, actor=officer.user_id, user_id=security.user_id, role="security"
        )
        with pytest.raises(StaffRoleRequired):
            staff_module.require_permission(session=s, principal=security, permission="incidents.manage")


def test_sharing_register_is_shown_to_the_person(
    runtime: Runtime, outbox: Outbox, clock: FrozenClock
) -> None:
    user = register_user(runtime, outbox, PHONE)
    with runtime.transaction() as s:
        privacy_service.record_sharing(
            session=s,
            clock=clock,
            subject_id=user,
            recipient="示例实名认证服务有限公司",
            fields=["real_name", "id_number"],
            purpose="实名认证",
            recipient_kind="identity_provider",
            legal_basis="consent",
        )
        with pytest.raises(InvalidInput):
            sharing.record_sharing(
                session=s, clock=clock, subject_id=user, recipient="x", fields=["身份证"], purpose="y"
            )
        (record,) = privacy_service.list_sharing(session=s, subject_id=user)
        mine = centre.my_data(session=s, clock=clock, user_id=user)
    assert record.fields == ["id_number", "real_name"] and record.legal_basis == "consent"
    shared = next(sec for sec in mine.sections if sec.key == "shared_with")
    assert shared.records[0]["recipient"] == "示例实名认证服务有限公司"


def test_marketing_is_off_by_default_and_withdrawal_stops_it_for_good(
    runtime: Runtime, outbox: Outbox, clock: FrozenClock
) -> None:
    user = register_user(runtime, outbox, PHONE)
    with runtime.transaction() as s:
        assert not preferences.may_send_marketing(session=s, user_id=user, channel="sms")
        prefs = preferences.set_preferences(
            session=s, clock=clock, user_id=user, marketing_sms=True, marketing_email=False
        )
        assert prefs.marketing_sms and prefs.marketing_consent
        assert preferences.may_send_marketing(session=s, user_id=user, channel="sms")
        assert not preferences.may_send_marketing(session=s, user_id=user, channel="email")
    with runtime.transaction() as s:  # withdrawing the consent (P5) turns every channel off
        privacy_service.withdraw_consent(
            session=s, clock=clock, user_id=user, purpose="marketing", context=None
        )
        assert not preferences.may_send_marketing(session=s, user_id=user, channel="sms")
        history = [c.action for c in privacy_service.list_consents(session=s, user_id=user)]
        assert history == ["grant", "withdraw"]  # the earlier grant stays on record
        token = preferences.unsubscribe_token(session=s, user_id=user)
    with runtime.transaction() as s:
        preferences.set_preferences(
            session=s, clock=clock, user_id=user, marketing_sms=True, marketing_email=True
        )
        with pytest.raises(InvalidInput):
            preferences.unsubscribe(session=s, clock=clock, user_id=user, token="0" * 32)
        prefs = preferences.unsubscribe(session=s, clock=clock, user_id=user, token=token)
        assert not prefs.marketing_sms and not prefs.marketing_email and not prefs.marketing_consent


def test_a_domain_section_may_be_a_section_object(
    runtime: Runtime, outbox: Outbox, clock: FrozenClock
) -> None:
    user = register_user(runtime, outbox, PHONE)

    def provider(*, session: Any, user_id: str) -> DataSection:
        return DataSection(
            key="contracts", title="合同", title_en="Contracts", records=[{"contract_id": "ctr_x"}]
        )

    centre.register_section("contracts", provider)
    try:
        with runtime.transaction() as s:
            keys = [sec.key for sec in centre.my_data(session=s, clock=clock, user_id=user).sections]
    finally:
        centre.unregister_section("contracts")
    assert keys.index("contracts") < keys.index("consents")
