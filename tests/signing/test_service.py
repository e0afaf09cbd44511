"""The signing service against the real PKI: custody keys, the in-process TSA, CRLs and OCSP."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from qianshu.core.clock import FrozenClock
from qianshu.core.errors import InvalidInput
from qianshu.core.runtime import Runtime
from qianshu.pki import service as pki_service
from qianshu.pki.errors import CertificateExpired, CertificateRevoked, SigningKeyMissing, TimestampUnavailable
from qianshu.signing import service as signing_service
from qianshu.signing.errors import (
    CertificateUntrusted,
    PdfEncrypted,
    PdfNotPdf,
    PdfTooLarge,
    PlacementInvalid,
)
from qianshu.signing.schemas import (
    HandwritingAppearance,
    PadesLevel,
    Rect,
    RevocationStatus,
    SealAppearance,
    TextAppearance,
)
from tests.signing.conftest import MINIMAL, MakeSigner, Signer
from tests.signing.pkitools import ThrowawayPki, now_utc
from tests.signing.test_images import handwriting_png
from tests.support.corpus import corpus_file

BOX = Rect(x1=10, y1=10, x2=200, y2=70)


def _sign(runtime: Runtime, signer: Signer, data: bytes, field: str, **kwargs: Any) -> bytes:
    return signing_service.sign_pdf(
        runtime=runtime,
        data=data,
        key_label=signer.cert.key_label,
        cert_der=signer.cert.der,
        chain_der=signer.chain,
        field_name=field,
        appearance=kwargs.pop("appearance", TextAppearance()),
        page=kwargs.pop("page", 0),
        rect=kwargs.pop("rect", BOX),
        **kwargs,
    )


@pytest.fixture
def minimal() -> bytes:
    return corpus_file(MINIMAL.name)


def test_two_signers_then_completion_reach_b_lta(runtime: Runtime, make_signer: MakeSigner, minimal: bytes) -> None:
    person, org = make_signer("person", "张三"), make_signer("org", "示例科技有限公司")
    seal = signing_service.render_seal(runtime=runtime, org_name="示例科技有限公司")

    signed = _sign(runtime, person, minimal, "Person", reason="同意", location="上海")
    signed = _sign(
        runtime,
        org,
        signed,
        "Org",
        appearance=SealAppearance(image_png=seal),
        rect=Rect(x1=200, y1=40, x2=290, y2=130),
    )
    before = signing_service.validate_pdf(signed, trust_roots=signing_service.trust_roots(runtime=runtime))
    completed = signing_service.complete_document(runtime=runtime, data=signed)
    after = signing_service.validate_pdf(completed, trust_roots=signing_service.trust_roots(runtime=runtime))

    assert [s.pades_level for s in before.signatures] == [PadesLevel.B_T, PadesLevel.B_T]
    assert before.ok and after.ok
    assert [s.pades_level for s in after.signatures] == [PadesLevel.B_LTA, PadesLevel.B_LTA]
    assert [s.revocation for s in after.signatures] == [RevocationStatus.GOOD, RevocationStatus.GOOD]
    assert [(s.signer_name, s.signer_org) for s in after.signatures] == [
        ("张三", None),
        ("示例科技有限公司", "示例科技有限公司"),
    ]
    assert after.signatures[0].chain[0].serial == person.cert.serial.upper()
    assert after.signatures[0].timestamp_time == runtime.clock.now()  # the in-process TSA uses the platform clock
    assert len(after.document_timestamps) == 1 and after.document_timestamps[0].ok


def test_handwriting_appearance(runtime: Runtime, make_signer: MakeSigner, minimal: bytes) -> None:
    hand = signing_service.prepare_handwriting(handwriting_png())
    signed = _sign(runtime, make_signer(), minimal, "Hand", appearance=HandwritingAppearance(image_png=hand))
    assert signing_service.validate_pdf(signed, trust_roots=signing_service.trust_roots(runtime=runtime)).ok


def test_revoked_certificate_cannot_sign(runtime: Runtime, make_signer: MakeSigner, minimal: bytes) -> None:
    signer = make_signer()
    with runtime.transaction() as session:
        pki_service.revoke_certificate(
            session=session,
            clock=runtime.clock,
            cert_id=signer.cert.id,
            actor=signer.cert.subject_id or "system",
        )
    with pytest.raises(CertificateRevoked):
        _sign(runtime, signer, minimal, "Sig1")


def test_expired_certificate_cannot_sign(
    runtime: Runtime, make_signer: MakeSigner, clock: FrozenClock, minimal: bytes
) -> None:
    signer = make_signer()
    clock.advance(timedelta(days=runtime.settings.cert_validity_days + 1))
    with pytest.raises(CertificateExpired):
        _sign(runtime, signer, minimal, "Sig1")


def test_key_missing_from_custody_cannot_sign(runtime: Runtime, make_signer: MakeSigner, minimal: bytes) -> None:
    signer = make_signer()
    pki_service.custody_for(runtime).destroy(signer.cert.key_label)
    with pytest.raises(SigningKeyMissing):
        _sign(runtime, signer, minimal, "Sig1")


def test_certificate_from_another_ca_cannot_sign(runtime: Runtime, make_signer: MakeSigner, minimal: bytes) -> None:
    ours = make_signer()
    foreign = ThrowawayPki(now=now_utc()).person("张三")
    with pytest.raises(CertificateUntrusted):
        signing_service.sign_pdf(
            runtime=runtime,
            data=minimal,
            key_label=ours.cert.key_label,
            cert_der=foreign.der,
            chain_der=[],
            field_name="Sig1",
            appearance=TextAppearance(),
            page=0,
            rect=BOX,
        )
    with pytest.raises(InvalidInput):
        signing_service.sign_pdf(
            runtime=runtime,
            data=minimal,
            key_label=ours.cert.key_label,
            cert_der=b"not DER",
            chain_der=[],
            field_name="Sig1",
            appearance=TextAppearance(),
            page=0,
            rect=BOX,
        )


@pytest.mark.parametrize(("name", "error"), [("enc_user_aes128.pdf", PdfEncrypted)])
def test_bad_documents_are_refused(
    runtime: Runtime, make_signer: MakeSigner, name: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        _sign(runtime, make_signer(), corpus_file(name), "Sig1")
    with pytest.raises(PdfNotPdf):
        _sign(runtime, make_signer(), b"<html>not a pdf</html>", "Sig1")


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    return dict(getattr(request, "param", {}))


@pytest.mark.parametrize("settings_overrides", [{"max_upload_bytes": 500}], indirect=True)
def test_documents_over_the_limit_are_refused(runtime: Runtime, make_signer: MakeSigner, minimal: bytes) -> None:
    with pytest.raises(PdfTooLarge):
        _sign(runtime, make_signer(), minimal, "Sig1")
    with pytest.raises(PdfTooLarge):
        signing_service.complete_document(runtime=runtime, data=minimal)


@pytest.fixture
def silent_tsa() -> Iterator[str]:
    """A TSA that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/tsa"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.slow
def test_tsa_timeout_is_a_clear_error(
    runtime: Runtime, make_signer: MakeSigner, silent_tsa: str, minimal: bytes
) -> None:
    signer = make_signer()
    runtime.settings.tsa_url = silent_tsa
    with pytest.raises(TimestampUnavailable) as raised:
        _sign(runtime, signer, minimal, "Sig1")
    assert raised.value.status == 503


def test_extra_trust_roots_are_added(runtime: Runtime, tmp_path: Path) -> None:
    other = ThrowawayPki(now=now_utc())
    path = tmp_path / "partner-root.pem"
    path.write_bytes(other.root.pem)
    runtime.settings.extra_trust_roots = [path]

    roots = signing_service.trust_roots(runtime=runtime)

    assert len(roots) == 2 and roots[1] == other.root.der
    path.write_bytes(b"garbage")
    with pytest.raises(InvalidInput):
        signing_service.trust_roots(runtime=runtime)


def test_bad_field_names_and_long_texts_are_refused(runtime: Runtime, make_signer: MakeSigner, minimal: bytes) -> None:
    signer = make_signer()
    with pytest.raises(InvalidInput, match="Field names"):
        _sign(runtime, signer, minimal, "Parent.Child")
    with pytest.raises(InvalidInput, match="at most"):
        _sign(runtime, signer, minimal, "Sig1", reason="理由" * 200)
    with pytest.raises(PlacementInvalid):
        _sign(runtime, signer, minimal, "Sig1", page=-1)


def test_seal_for_a_blank_name_is_refused(runtime: Runtime) -> None:
    with pytest.raises(InvalidInput):
        signing_service.render_seal(runtime=runtime, org_name="   ")


def test_caller_session_is_used_for_signing(runtime: Runtime, make_signer: MakeSigner, minimal: bytes) -> None:
    signer = make_signer()
    with runtime.transaction() as session:
        signed = signing_service.sign_pdf(
            runtime=runtime,
            data=minimal,
            key_label=signer.cert.key_label,
            cert_der=signer.cert.der,
            chain_der=signer.chain,
            field_name="Sig1",
            appearance=TextAppearance(),
            page=0,
            rect=BOX,
            session=session,
        )
        completed = signing_service.complete_document(runtime=runtime, data=signed, session=session)
        roots = signing_service.trust_roots(runtime=runtime, session=session)
    assert signing_service.validate_pdf(completed, trust_roots=roots).ok


@pytest.mark.slow
@pytest.mark.parametrize("settings_overrides", [{"key_algorithm": "rsa-3072"}], indirect=True)
def test_rsa_platform_signs_to_b_lta(runtime: Runtime, make_signer: MakeSigner, minimal: bytes) -> None:
    signer = make_signer()
    assert signer.cert.key_algorithm == "rsa-3072"

    completed = signing_service.complete_document(runtime=runtime, data=_sign(runtime, signer, minimal, "Rsa"))

    report = signing_service.validate_pdf(completed, trust_roots=signing_service.trust_roots(runtime=runtime))
    assert report.ok and report.signatures[0].pades_level == PadesLevel.B_LTA
