"""Account cancellation (P7, E4): cooling-off, irreversible shredding, retention key, revoked certificates."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from qianshu.core.clock import FrozenClock
from qianshu.core.errors import QianshuError
from qianshu.core.runtime import Runtime
from qianshu.privacy import cancellation, centre, retention
from qianshu.privacy import requests as requests_module
from qianshu.privacy.centre_schemas import Blocker
from qianshu.privacy.errors import CancellationBlocked, RequestStateConflict
from qianshu.vault import service as vault_service
from tests.conftest import retention_private_key_path
from tests.privacy.centre_support import CHEAP_HASHING, Outbox, install_outbox, make_operator, register_user

PHONE = "13800138201"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return dict(CHEAP_HASHING)


@pytest.fixture
def outbox(monkeypatch: pytest.MonkeyPatch) -> Outbox:
    return install_outbox(monkeypatch)


def _schedule(runtime: Runtime, outbox: Outbox, user: str) -> str:
    with runtime.transaction() as s:
        challenge = cancellation.start(session=s, clock=runtime.clock, user_id=user)
    with runtime.transaction() as s:
        read = cancellation.confirm(
            session=s,
            clock=runtime.clock,
            user_id=user,
            request_id=challenge.request_id,
            code=outbox.last_code(PHONE),
        )
    assert read.status == "cooling_off"
    return challenge.request_id


def _sign_contract(runtime: Runtime, user: str) -> tuple[bytes, bytes]:
    """Have `user` sign the demo contract with a certificate bound to them; return (PDF, root DER)."""
    from qianshu.pki import service as pki_service
    from qianshu.signing import service as signing_service
    from qianshu.signing.contract_pdf import ContractParty, demo_contract_pdf
    from qianshu.signing.schemas import TextAppearance

    with runtime.transaction() as s:
        cert = pki_service.issue_person_certificate(
            session=s, clock=runtime.clock, subject_id=user, name="张三"
        )
        chain = pki_service.ca_chain(session=s)
        root = pki_service.root_certificate_der(session=s)
    parties = (
        ContractParty("甲方", "委托方", "张三", "身份证件号码：3101**********1234", "上海"),
        ContractParty("乙方", "服务方", "李四", "身份证件号码：3101**********5678", "上海"),
    )
    contract, (area, _other) = demo_contract_pdf(
        font_path=runtime.settings.reportlab_cjk_font, parties=parties
    )
    signed = signing_service.sign_pdf(
        runtime=runtime,
        data=contract,
        key_label=cert.key_label,
        cert_der=cert.der,
        chain_der=chain,
        field_name="Signature_a",
        appearance=TextAppearance(),
        page=area.page,
        rect=area.rect,
    )
    return signing_service.complete_document(runtime=runtime, data=signed), root


def test_cancellation_is_irreversible_and_keeps_only_what_the_law_requires(
    runtime: Runtime, outbox: Outbox, clock: FrozenClock, run_jobs: Any
) -> None:
    from qianshu.accounts import service as accounts_service
    from qianshu.pki import service as pki_service
    from qianshu.signing import service as signing_service

    user = register_user(runtime, outbox, PHONE)
    signed_pdf, root_der = _sign_contract(runtime, user)
    with runtime.transaction() as s:
        preview = cancellation.preview(session=s, user_id=user)
        assert preview.can_cancel and preview.cooling_off_days == 7
        assert any("证书" in line for line in preview.retained)
        user_row_blob = vault_service.encrypt_field(
            session=s, subject_id=user, table="t", column="c", row_id="r", value="秘密"
        )
    request_id = _schedule(runtime, outbox, user)
    assert "privacy_cancellation_scheduled" in outbox.templates(user)

    clock.advance(timedelta(days=6))
    run_jobs()
    with runtime.transaction() as s:  # still cooling off: nothing happened
        assert accounts_service.get_user(session=s, user_id=user).status == "active"  # type: ignore[union-attr]
    clock.advance(timedelta(days=1, minutes=1))
    run_jobs()

    with runtime.transaction() as s:
        assert accounts_service.get_user(session=s, user_id=user).status == "cancelled"  # type: ignore[union-attr]
        # crypto-shredded: anything under the person's data key is gone for good
        assert vault_service.is_shredded(session=s, subject_id=user)
        with pytest.raises(vault_service.DataShredded):
            vault_service.decrypt_field(
                session=s, subject_id=user, table="t", column="c", row_id="r", blob=user_row_blob
            )
        assert accounts_service.get_contact(session=s, user_id=user).phone is None
        # certificates revoked (RFC 5280 cessationOfOperation), records kept for verification
        (cert,) = pki_service.list_certificates_for(session=s, subject_id=user)
        assert cert.status == "revoked" and cert.revocation_reason == "cessation_of_operation"
        # the signer's identity is kept under the retention key only
        holds = retention.list_holds(session=s, subject_id=user)
        assert [h.category for h in holds] == ["signing_record"]
        assert holds[0].retain_until >= clock.now() + timedelta(days=5 * 365)
        read = requests_module.get_request(session=s, clock=clock, user_id=user, request_id=request_id)
        assert read.status == "completed" and read.steps[-1].action == "account_cancelled"
    # irreversible: the phone number no longer logs in, and a second cancellation finds no account
    with runtime.transaction() as s, pytest.raises(QianshuError):
        accounts_service.login_with_password(session=s, clock=clock, login=PHONE, password="Correct-horse-42")
    with runtime.transaction() as s, pytest.raises(CancellationBlocked):
        cancellation.start(session=s, clock=clock, user_id=user)
    # E4: the signed contract still validates, offline, against nothing but the root certificate
    report = signing_service.validate_pdf(signed_pdf, trust_roots=[root_der])
    assert report.ok, report


def test_retained_records_are_unreadable_by_staff_and_released_when_the_period_ends(
    runtime: Runtime, outbox: Outbox, clock: FrozenClock
) -> None:
    from qianshu.pki import service as pki_service
    from qianshu.privacy.centre_models import RetainedRecord

    user = register_user(runtime, outbox, PHONE)
    with runtime.transaction() as s:
        pki_service.issue_person_certificate(session=s, clock=clock, subject_id=user, name="张三")
    request_id = _schedule(runtime, outbox, user)
    clock.advance(timedelta(days=8))
    with runtime.transaction() as s:
        assert cancellation.execute(session=s, clock=clock, request_id=request_id)
    # the platform holds only the public key; the operator's offline copy of the private key opens
    assert sorted(p.name for p in vault_service.retention_key_dir(runtime).iterdir()) == ["KID", "public.key"]
    private_key = retention_private_key_path(runtime).read_bytes()
    with runtime.transaction() as s:
        records = list(s.query(RetainedRecord).filter_by(subject_id=user))
        assert {r.source for r in records} == {"accounts.display_name", "accounts.phone", "pki.certificate"}
        assert all("张三".encode() not in r.sealed and PHONE.encode() not in r.sealed for r in records)
        for record in records:
            # the ordinary vault path (what staff tools use) cannot open them ...
            with pytest.raises(QianshuError):
                vault_service.decrypt_field(
                    session=s,
                    subject_id=user,
                    table="privacy_retained_record",
                    column="sealed",
                    row_id=record.id,
                    blob=record.sealed,
                )
            with pytest.raises(QianshuError):
                vault_service.decrypt_field(
                    session=s,
                    subject_id=vault_service.RETENTION_PREFIX + user,
                    table="privacy_retained_record",
                    column="sealed",
                    row_id=record.id,
                    blob=record.sealed,
                )
        # ... nor does the privacy centre show them to staff
        masked = centre.subject_data_masked(session=s, clock=clock, user_id=user)
        assert "张三" not in masked.model_dump_json() and PHONE not in masked.model_dump_json()
        # only the offline private key (a lawful disclosure) opens them
        opened = retention.open_retained_records(session=s, user_id=user, private_key=private_key)
        certificate = opened.pop("pki.certificate")  # the certificate's DER (base64), sealed by pki
        assert len(certificate) == 1 and "张三".encode() in base64.b64decode(certificate[0])
        assert opened == {"accounts.display_name": ["张三"], "accounts.phone": [PHONE]}
        kept = (records[0].id, bytes(records[0].sealed))
    # a legal hold keeps them past the period; once lifted, the sweep destroys the retention key
    clock.advance(timedelta(days=5 * 366))
    with runtime.transaction() as s:
        hold_id = retention.place_legal_hold(
            session=s, clock=clock, actor="usr_officer", reference="(2030)沪01民初1号", subject_id=user
        )
        assert retention.run_sweep(session=s, clock=clock)["retention_holds_released"] == 0
        assert vault_service.has_retention_key(session=s, subject_id=user)
        retention.release_legal_hold(session=s, clock=clock, actor="usr_officer", hold_id=hold_id)
        assert retention.run_sweep(session=s, clock=clock)["retention_holds_released"] == 1
        assert not vault_service.has_retention_key(session=s, subject_id=user)
        assert s.query(RetainedRecord).filter_by(subject_id=user).count() == 0
        assert retention.open_retained_records(session=s, user_id=user, private_key=private_key) == {}
        # a copy of a sealed value (a backup, say) no longer opens, even with the private key
        with pytest.raises(vault_service.DataShredded):
            vault_service.open_retained(
                session=s,
                subject_id=user,
                table="privacy_retained_record",
                column="sealed",
                row_id=kept[0],
                blob=kept[1],
                private_key=private_key,
            )


def test_cancellation_can_be_withdrawn_during_cooling_off(
    runtime: Runtime, outbox: Outbox, clock: FrozenClock, run_jobs: Any
) -> None:
    from qianshu.accounts import service as accounts_service

    user = register_user(runtime, outbox, PHONE)
    request_id = _schedule(runtime, outbox, user)
    with runtime.transaction() as s, pytest.raises(RequestStateConflict):
        cancellation.start(session=s, clock=clock, user_id=user)  # one at a time
    with runtime.transaction() as s:
        requests_module.withdraw_request(session=s, clock=clock, user_id=user, request_id=request_id)
    clock.advance(timedelta(days=30))
    run_jobs()
    with runtime.transaction() as s:
        assert accounts_service.get_user(session=s, user_id=user).status == "active"  # type: ignore[union-attr]
        assert not vault_service.is_shredded(session=s, subject_id=user)


@pytest.fixture
def contract_in_progress() -> Iterator[set[str]]:
    blocked: set[str] = set()

    def check(*, session: Any, user_id: str) -> list[Blocker | dict[str, Any]]:
        if user_id in blocked:
            return [
                Blocker(
                    code="contracts_in_progress",
                    message="有 1 份合同尚未签署完成",
                    message_en="1 contract is still being signed",
                    count=1,
                )
            ]
        return []

    cancellation.register_blocker("test_contracts", check)
    yield blocked
    cancellation.unregister_blocker("test_contracts")


def test_preconditions_are_explained_and_checked_again_at_the_end(
    runtime: Runtime, outbox: Outbox, clock: FrozenClock, contract_in_progress: set[str]
) -> None:
    from qianshu.accounts import service as accounts_service

    user = register_user(runtime, outbox, PHONE)
    contract_in_progress.add(user)
    with runtime.transaction() as s:
        preview = cancellation.preview(session=s, user_id=user)
        assert not preview.can_cancel and [b.code for b in preview.blockers] == ["contracts_in_progress"]
        with pytest.raises(CancellationBlocked) as caught:
            cancellation.start(session=s, clock=clock, user_id=user)
        assert caught.value.extra["blockers"][0]["code"] == "contracts_in_progress"
    contract_in_progress.clear()
    request_id = _schedule(runtime, outbox, user)
    contract_in_progress.add(user)  # a new contract started during the cooling-off period
    clock.advance(timedelta(days=8))
    with runtime.transaction() as s:
        assert not cancellation.execute(session=s, clock=clock, request_id=request_id)
        assert accounts_service.get_user(session=s, user_id=user).status == "active"  # type: ignore[union-attr]
        read = requests_module.get_request(session=s, clock=clock, user_id=user, request_id=request_id)
        assert read.status == "rejected"


def test_operator_accounts_cannot_cancel_themselves(runtime: Runtime) -> None:
    operator = make_operator(runtime, "ops@example.com")
    with runtime.transaction() as s:
        assert [b.code for b in cancellation.blockers(session=s, user_id=operator.user_id)] == [
            "operator_account"
        ]
