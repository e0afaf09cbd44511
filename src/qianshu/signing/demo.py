"""`qianshu demo`: two signers sign a Chinese contract in order, then the platform completes it.

The person 张三 signs with a text stamp, the organisation 示例科技有限公司 with its generated
seal; both signatures carry time-stamps (B-T) and the completed document reaches PAdES B-LTA.
The signed contract is then preserved through `evidence` (time-stamped, logged in the
transparency log, certified by the platform) and its evidence bundle is written with the root
certificate and the log's verifier key, so `qianshu verify` can check it offline.
Everything is computed first and written at the end (each file atomically), so a failure leaves
no partial output.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from qianshu.core.ids import new_id
from qianshu.core.runtime import Runtime
from qianshu.evidence import service as evidence_service
from qianshu.pki import service as pki_service
from qianshu.signing import service as signing_service
from qianshu.signing.contract_pdf import ContractParty, demo_contract_pdf
from qianshu.signing.schemas import SealAppearance, TextAppearance, ValidationReport

__all__ = ["DEMO_ORG", "DEMO_PERSON", "DemoResult", "run_demo"]

DEMO_PERSON = "张三"
DEMO_ORG = "示例科技有限公司"
DEMO_USCC = "91310000MA1FL8XQ37"  # check character per GB 32100-2015
_PARTIES = (
    ContractParty("甲方", "委托方", DEMO_PERSON, "身份证件号码：3101**********1234", "上海市浦东新区世纪大道100号"),
    ContractParty("乙方", "服务方", DEMO_ORG, f"统一社会信用代码：{DEMO_USCC}", "上海市徐汇区漕溪北路200号"),
)


@dataclass(frozen=True)
class DemoResult:
    """The files the demo wrote and the validation report of the signed contract."""

    signed_pdf: Path
    root_pem: Path
    tsa_pem: Path
    validation_json: Path
    seal_png: Path
    bundle_zip: Path
    log_key: Path
    preservation_id: str
    report: ValidationReport


def _pem(der: bytes) -> bytes:
    return x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM)


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def run_demo(*, runtime: Runtime, out_dir: Path) -> DemoResult:
    """Make the demo signers, sign the contract in order, complete it to B-LTA and write the files."""
    clock = runtime.clock
    with runtime.transaction() as session:
        person = pki_service.issue_person_certificate(
            session=session, clock=clock, subject_id=new_id("usr"), name=DEMO_PERSON
        )
        org = pki_service.issue_org_certificate(
            session=session, clock=clock, subject_id=new_id("org"), org_name=DEMO_ORG, uscc=DEMO_USCC
        )
        chain = pki_service.ca_chain(session=session)
        root_der = pki_service.root_certificate_der(session=session)
        tsa_der = pki_service.tsa_certificate_der(session=session)

    seal = signing_service.render_seal(runtime=runtime, org_name=DEMO_ORG)
    contract, (area_a, area_b) = demo_contract_pdf(font_path=runtime.settings.reportlab_cjk_font, parties=_PARTIES)
    signed = signing_service.sign_pdf(
        runtime=runtime,
        data=contract,
        key_label=person.key_label,
        cert_der=person.der,
        chain_der=chain,
        field_name=f"Signature_{person.subject_id}",
        appearance=TextAppearance(),
        page=area_a.page,
        rect=area_a.rect,
        reason="甲方签署",
        location="中国",
    )
    signed = signing_service.sign_pdf(
        runtime=runtime,
        data=signed,
        key_label=org.key_label,
        cert_der=org.der,
        chain_der=chain,
        field_name=f"Signature_{org.subject_id}",
        appearance=SealAppearance(image_png=seal),
        page=area_b.page,
        rect=area_b.rect,
        reason="乙方盖章",
        location="中国",
    )
    completed = signing_service.complete_document(runtime=runtime, data=signed)
    report = signing_service.validate_pdf(completed, trust_roots=signing_service.trust_roots(runtime=runtime))
    assert person.subject_id is not None  # issued for the subject id given above
    preservation_id = evidence_service.preserve_signed_file(
        runtime=runtime, owner_id=person.subject_id, data=completed, media_type="application/pdf", label="演示合同"
    )
    with runtime.transaction() as session:
        bundle = evidence_service.evidence_bundle(
            session=session, subject_kind="preservation", subject_id=preservation_id
        )
    log_key = evidence_service.log_verifier_key(runtime=runtime)

    out_dir.mkdir(parents=True, exist_ok=True)
    result = DemoResult(
        signed_pdf=out_dir / "signed.pdf",
        root_pem=out_dir / "root.pem",
        tsa_pem=out_dir / "tsa.pem",
        validation_json=out_dir / "validation.json",
        seal_png=out_dir / "seal.png",
        bundle_zip=out_dir / "evidence-bundle.zip",
        log_key=out_dir / "log.key",
        preservation_id=preservation_id,
        report=report,
    )
    _write_atomically(result.root_pem, _pem(root_der))
    _write_atomically(result.tsa_pem, _pem(tsa_der))
    _write_atomically(result.seal_png, seal)
    _write_atomically(result.validation_json, report.model_dump_json(indent=2).encode("utf-8"))
    _write_atomically(result.log_key, (log_key + "\n").encode("utf-8"))
    _write_atomically(result.bundle_zip, bundle)
    _write_atomically(result.signed_pdf, completed)
    return result
