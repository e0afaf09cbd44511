"""Contracts in the privacy domain: cancellation blockers, the privacy centre, P8 parties, retention."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from qianshu.contracts import service as contracts_service
from qianshu.core.runtime import Runtime
from qianshu.privacy import cancellation, centre, parties
from qianshu.privacy.errors import CancellationBlocked
from tests.contracts.conftest import Sent
from tests.contracts.test_service import PHONE_A, PHONE_B, _contract, _sign, _signer

OWNER_PHONE = "13900139000"


def _codes(runtime: Runtime, user_id: str) -> list[str]:
    with runtime.transaction() as s:
        return [b.code for b in cancellation.blockers(session=s, user_id=user_id)]


def test_a_contract_in_progress_blocks_cancellation_with_the_reason(
    runtime: Runtime, make_person: Callable[..., str], sent: Sent
) -> None:
    owner = make_person(OWNER_PHONE, verified=False)
    a, b = make_person(PHONE_A, name="张三"), make_person(PHONE_B, name="李四")
    contract_id, links = _contract(runtime, owner, [_signer(PHONE_A, 1, 100), _signer(PHONE_B, 2, 200)])
    assert "contracts_sending" in _codes(runtime, owner)
    assert "contracts_to_sign" in _codes(runtime, a) and "contracts_to_sign" in _codes(runtime, b)
    with runtime.transaction() as s, pytest.raises(CancellationBlocked) as caught:
        cancellation.start(session=s, clock=runtime.clock, user_id=b)
    assert "未签署" in caught.value.detail and "wait for your signature" in caught.value.detail_en
    with runtime.transaction() as s:
        preview = cancellation.preview(session=s, user_id=owner)
    assert not preview.can_cancel and "仍在签署中" in preview.blockers[0].message

    _sign(runtime, sent, links[PHONE_A], PHONE_A, user=a)
    assert "contracts_to_sign" not in _codes(runtime, a)  # signed: nothing left for A
    assert "contracts_to_sign" in _codes(runtime, b)
    _sign(runtime, sent, links[PHONE_B], PHONE_B, user=b)
    for user in (owner, a, b):
        assert not any(c.startswith("contracts_") for c in _codes(runtime, user))
    with runtime.transaction() as s:
        assert contracts_service.get_contract_or_raise(session=s, contract_id=contract_id, owner_id=owner).status == (
            "completed"
        )


def test_the_privacy_centre_lists_contracts_with_counterparties_masked(
    runtime: Runtime, make_person: Callable[..., str], sent: Sent
) -> None:
    owner = make_person(OWNER_PHONE, verified=False)
    a = make_person(PHONE_A)
    contract_id, _links = _contract(runtime, owner, [_signer(PHONE_A), _signer(PHONE_B, 1, 200)])
    with runtime.transaction() as s:
        mine = centre.my_data(session=s, clock=runtime.clock, user_id=owner)
        theirs = centre.my_data(session=s, clock=runtime.clock, user_id=a)
        staff_view = centre.subject_data_masked(session=s, clock=runtime.clock, user_id=a)
    section = next(x for x in mine.sections if x.key == "contracts")
    assert section.title == "合同"
    (record,) = section.records
    assert record["contract_id"] == contract_id and record["title"] == "服务合同"
    assert record["role"] == "发起方" and record["status"] == "签署中"
    assert sorted(record["counterparties"].split("、")) == ["138****8001", "138****8002"]
    (signer_record,) = next(x for x in theirs.sections if x.key == "contracts").records
    assert signer_record["role"] == "签署方" and signer_record["title"] == "服务合同"
    assert signer_record["counterparties"] == "138****8002"  # the other signer, masked; not A themself
    (masked_record,) = next(x for x in staff_view.sections if x.key == "contracts").records
    assert masked_record["title"] != "服务合同" and masked_record["title"].startswith("服")
    # The data copy (P4) is built from the same sections.
    from qianshu.privacy import export

    with runtime.transaction() as s:
        document = export.export_document(session=s, clock=runtime.clock, user_id=owner)
    assert contract_id in str(document)


def test_contract_linked_deletion_names_every_party(
    runtime: Runtime, make_person: Callable[..., str], sent: Sent
) -> None:
    owner = make_person(OWNER_PHONE, verified=False)
    a, b = make_person(PHONE_A), make_person(PHONE_B)
    contract_id, _links = _contract(runtime, owner, [_signer(PHONE_A), _signer(PHONE_B, 1, 200)])
    with runtime.transaction() as s:
        found = parties.parties_of(session=s, object_type="contract", object_id=contract_id)
        assert found == sorted([owner, a, b])
        assert parties.parties_of(session=s, object_type="contract", object_id="ctr_00000000000000000000") is None
        assert parties.parties_or_raise(session=s, object_type="contract", object_id=contract_id, requester=a)
        contracts_service.privacy_delete_for_object(
            session=s, clock=runtime.clock, object_type="contract", object_id=contract_id, requester=a
        )
        read = contracts_service.get_contract_or_raise(session=s, contract_id=contract_id, owner_id=owner)
        theirs = centre.my_data(session=s, clock=runtime.clock, user_id=a)
    assert all(r.contact_masked.startswith("138****") for r in read.recipients)
    assert not any(x.key == "contracts" for x in theirs.sections)  # A's link to the contract is gone


def test_signing_records_are_anonymised_after_five_years(
    runtime: Runtime, make_person: Callable[..., str], sent: Sent, run_jobs: Callable[[], int]
) -> None:
    owner = make_person(OWNER_PHONE, verified=False)
    a = make_person(PHONE_A)
    contract_id, links = _contract(runtime, owner, [_signer(PHONE_A)])
    _sign(runtime, sent, links[PHONE_A], PHONE_A, user=a)
    with runtime.transaction() as s:
        (item,) = contracts_service.privacy_retained_for(session=s, clock=runtime.clock, user_id=a)
        done = contracts_service.get_contract_or_raise(session=s, contract_id=contract_id, owner_id=owner)
        finished = done.finished_at
    assert finished is not None and PHONE_A in item.value
    assert item.retain_until - finished == timedelta(days=1826) and item.category == "signing_record"

    runtime.clock.advance(timedelta(days=1825))  # type: ignore[attr-defined]  # FrozenClock
    with runtime.transaction() as s:
        assert contracts_service.retention_sweep(session=s, clock=runtime.clock) == 0
        assert any(x.key == "contracts" for x in centre.my_data(session=s, clock=runtime.clock, user_id=a).sections)
    runtime.clock.advance(timedelta(days=2))  # type: ignore[attr-defined]
    with runtime.transaction() as s:
        from qianshu.contracts import integration

        integration.schedule_sweep(session=s, clock=runtime.clock)
    runtime.clock.advance(timedelta(days=1))  # type: ignore[attr-defined]
    run_jobs()  # the daily job anonymises it
    with runtime.transaction() as s:
        assert contracts_service.retention_sweep(session=s, clock=runtime.clock) == 0  # already done
        read = contracts_service.get_contract_or_raise(session=s, contract_id=contract_id, owner_id=owner)
        trail = contracts_service.contract_events(session=s, contract_id=contract_id, owner_id=owner)
        events = [e.action for e in trail]
        signer_view = centre.my_data(session=s, clock=runtime.clock, user_id=a)
        material = contracts_service.evidence_material(session=s, subject_id=contract_id)
    assert read.recipients[0].contact_masked == "138****8001"
    assert events.count("contract.retention_anonymised") == 1
    assert not any(x.key == "contracts" for x in signer_view.sections)
    assert PHONE_A not in repr(material.facts)
