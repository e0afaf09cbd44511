"""An organisation signer end to end: its agent signs with the organisation's seal and key.

A person fills text, a date and checkboxes and signs; then the organisation's agent fills a text
field and seals. The contract completes to B-LTA; the seal and the values appear where they were
placed; the organisation's signature is made with the organisation's certificate.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from qianshu.contracts import service as contracts_service
from qianshu.contracts.models import ContractField
from qianshu.contracts.schemas import ContractCreate, SignIn
from qianshu.core.runtime import Runtime
from qianshu.signing import service as signing_service
from qianshu.signing.schemas import PadesLevel, ValidationReport
from tests.contracts.conftest import Sent
from tests.contracts.org_signers import SealOrg, bank_server, make_seal_org, org_signer, two_page_pdf

__all__ = ["bank_server", "make_seal_org"]  # fixtures used by the tests below

SENDER, PERSON, OWNER, AGENT = "13600136000", "13600136001", "13600136002", "13600136003"
ORG_NAME = "福建测试科技有限公司"
PAGE_HEIGHT = 842  # A4
DPI = 80
TEXT = {"kind": "text", "page": 0, "x1": 72, "y1": 600, "x2": 330, "y2": 624}
DATE = {"kind": "date", "page": 0, "x1": 72, "y1": 560, "x2": 200, "y2": 580}
TICK = {"kind": "checkbox", "page": 0, "x1": 72, "y1": 520, "x2": 90, "y2": 538}
NO_TICK = {"kind": "checkbox", "page": 0, "x1": 100, "y1": 520, "x2": 118, "y2": 538, "required": False}
ORG_TEXT = {"kind": "text", "page": 1, "x1": 72, "y1": 300, "x2": 300, "y2": 324}
SEAL = {"x1": 380, "y1": 120, "x2": 500, "y2": 240}  # org_signer's seal field, on page 1 (0-based)


def contract_with_org(runtime: Runtime, sender: str, org: SealOrg) -> tuple[str, dict[str, str]]:
    """Send a two-page contract: the person (order 1) fills page 0, then the organisation (order 2)."""
    person: dict[str, Any] = {
        "phone": PERSON,
        "routing_order": 1,
        "fields": [
            {"kind": "signature", "page": 0, "x1": 300, "y1": 60, "x2": 520, "y2": 130},
            TEXT,
            DATE,
            TICK,
            NO_TICK,
        ],
    }
    company = org_signer(org, order=2)
    company["fields"].append(ORG_TEXT)
    with runtime.transaction() as s:
        doc = contracts_service.upload_document(session=s, clock=runtime.clock, owner_id=sender, data=two_page_pdf())
        ctr = contracts_service.create_contract(
            session=s,
            clock=runtime.clock,
            owner_id=sender,
            data=ContractCreate.model_validate(
                {"document_id": doc.id, "title": "采购合同", "recipients": [person, company]}
            ),
        )
        sent = contracts_service.send_contract(session=s, clock=runtime.clock, owner_id=sender, contract_id=ctr.id)
    kinds = {r.id: r.kind for r in sent.contract.recipients}
    return ctr.id, {kinds[link.recipient_id]: link.url.rsplit("/", 1)[1] for link in sent.links}


def _field_ids(runtime: Runtime, token: str, user: str) -> dict[tuple[str, int, float], str]:
    with runtime.transaction() as s:
        view = contracts_service.view_link(session=s, clock=runtime.clock, token=token, user_id=user)
    return {(f.kind, f.page, f.x1): f.id for f in view.fields}


def sign_with_values(
    runtime: Runtime, sent: Sent, token: str, phone: str, user: str, values: dict[tuple[str, int, float], str]
) -> Any:
    """Request the intent code, then sign with `values` keyed by (kind, page, x1) of the field."""
    ids = _field_ids(runtime, token, user)
    with runtime.transaction() as s:
        contracts_service.request_intent_code(session=s, clock=runtime.clock, token=token, user_id=user)
    data = SignIn(code=sent.code(phone, "otp_contract_sign"), values={ids[k]: v for k, v in values.items()})
    with runtime.transaction() as s:
        return contracts_service.sign(session=s, clock=runtime.clock, token=token, data=data, user_id=user)


def _key(field: dict[str, Any]) -> tuple[str, int, float]:
    return (str(field["kind"]), int(field["page"]), float(field["x1"]))


PERSON_VALUES = {_key(TEXT): "上海市浦东新区世纪大道100号", _key(DATE): "2026-03-15", _key(TICK): "true"}
ORG_VALUES = {_key(ORG_TEXT): "经办人：赵六"}


def run_org_contract(
    runtime: Runtime, sent: Sent, make_person: Callable[..., str], make_seal_org: Callable[..., SealOrg]
) -> tuple[str, str, bytes]:
    """Build the people and the organisation, send, sign both; return (sender, contract id, PDF)."""
    sender = make_person(SENDER, verified=False)
    person = make_person(PERSON, name="李四")
    org = make_seal_org(requires_approval=False, owner_phone=OWNER, agent_phone=AGENT)
    contract_id, tokens = contract_with_org(runtime, sender, org)
    sign_with_values(runtime, sent, tokens["person"], PERSON, person, PERSON_VALUES)
    assert _status(runtime, contract_id, sender) == "sent"
    view = sign_with_values(runtime, sent, tokens["org"], AGENT, org.agent_id, ORG_VALUES)
    assert view.status == "completed"
    with runtime.transaction() as s:
        pdf = contracts_service.contract_pdf(session=s, contract_id=contract_id, owner_id=sender)
    return sender, contract_id, pdf


def _status(runtime: Runtime, contract_id: str, owner: str) -> str:
    with runtime.transaction() as s:
        return contracts_service.get_contract_or_raise(session=s, contract_id=contract_id, owner_id=owner).status


def check_report(report: ValidationReport) -> None:
    """Both signatures valid at B-LTA; the second is the organisation's own certificate."""
    assert report.ok, report
    person_sig, org_sig = report.signatures
    assert all(s.ok and s.pades_level == PadesLevel.B_LTA for s in report.signatures)
    assert person_sig.signer_name == "李四" and person_sig.modifications_permitted
    assert org_sig.signer_org == ORG_NAME and org_sig.signer_name == ORG_NAME
    assert ORG_NAME in org_sig.chain[0].subject and "赵六" not in org_sig.chain[0].subject


def _render(pdf: bytes, workdir: Path) -> list[Image.Image]:
    path = workdir / "contract.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", str(DPI), str(path), str(workdir / "page")], check=True, timeout=120)
    return [Image.open(p).convert("RGB") for p in sorted(workdir.glob("page-*.png"))]


def _crop(image: Image.Image, field: dict[str, Any]) -> Image.Image:
    scale = DPI / 72
    return image.crop(
        (
            round(field["x1"] * scale),
            round((PAGE_HEIGHT - field["y2"]) * scale),
            round(field["x2"] * scale),
            round((PAGE_HEIGHT - field["y1"]) * scale),
        )
    )


def _count(region: Image.Image, test: Callable[[tuple[int, int, int]], bool]) -> int:
    pixels: list[tuple[int, int, int]] = list(region.get_flattened_data())  # type: ignore[arg-type]  # RGB
    return sum(1 for px in pixels if test(px))


def _dark(px: tuple[int, int, int]) -> bool:
    return sum(px) < 3 * 110


def _red(px: tuple[int, int, int]) -> bool:
    return px[0] > 150 and px[1] < 110 and px[2] < 110


def check_render(pdf: bytes, workdir: Path) -> None:
    """The seal is red in its field on page 1; the values are drawn inside their boxes."""
    first, second = _render(pdf, workdir)
    assert _count(_crop(second, SEAL), _red) > 1500
    assert _count(_crop(first, SEAL), _red) == 0
    assert _count(_crop(first, TEXT), _dark) > 150
    assert _count(_crop(first, DATE), _dark) > 60
    assert _count(_crop(first, TICK), _dark) > _count(_crop(first, NO_TICK), _dark) + 10
    assert _count(_crop(first, NO_TICK), _dark) == 0  # not filled: nothing drawn
    assert _count(_crop(second, ORG_TEXT), _dark) > 60


@pytest.mark.skipif(not shutil.which("pdftoppm"), reason="poppler-utils are needed")
def test_org_signer_seals_with_the_org_certificate_and_values_are_signed(
    runtime: Runtime,
    sent: Sent,
    make_person: Callable[..., str],
    make_seal_org: Callable[..., SealOrg],
    tmp_path: Path,
) -> None:
    _sender, contract_id, pdf = run_org_contract(runtime, sent, make_person, make_seal_org)
    check_report(signing_service.validate_pdf(pdf, trust_roots=signing_service.trust_roots(runtime=runtime)))
    check_render(pdf, tmp_path)
    with runtime.transaction() as s:  # the values are kept encrypted, not in clear
        rows = s.scalars(select(ContractField).where(ContractField.contract_id == contract_id)).all()
        filled = [r for r in rows if r.value_enc is not None]
        assert len(filled) == 4
        blobs = [r.value_enc for r in filled if r.value_enc is not None]
        assert all("上海".encode() not in blob and b"2026-03-15" not in blob for blob in blobs)


def test_a_bad_date_is_refused_before_anything_is_signed(
    runtime: Runtime, sent: Sent, make_person: Callable[..., str], make_seal_org: Callable[..., SealOrg]
) -> None:
    from qianshu.contracts.errors import FieldInvalid

    sender = make_person(SENDER, verified=False)
    person = make_person(PERSON, name="李四")
    org = make_seal_org(requires_approval=False, owner_phone=OWNER, agent_phone=AGENT)
    contract_id, tokens = contract_with_org(runtime, sender, org)
    with pytest.raises(FieldInvalid):
        sign_with_values(runtime, sent, tokens["person"], PERSON, person, {**PERSON_VALUES, _key(DATE): "2026-02-30"})
    with runtime.transaction() as s:
        contract = contracts_service.get_contract_or_raise(session=s, contract_id=contract_id, owner_id=sender)
    assert contract.signatures == 0
