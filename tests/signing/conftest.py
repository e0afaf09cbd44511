"""Fixtures for signing: a throw-away PKI with in-memory custody, the CJK font, signers via pki_service.

Two layers are tested. `pades`/`validation` run on their own with `ThrowawayPki` (no database);
`service` runs against the real PKI domain through the root `runtime` fixture.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.x509.oid import NameOID

from qianshu.core.ids import new_id
from qianshu.core.runtime import Runtime
from qianshu.pki import service as pki_service
from qianshu.signing import appearance, pades
from qianshu.signing.custody_signer import CustodySigner
from qianshu.signing.fonts import CjkFont, extract_face
from qianshu.signing.schemas import Appearance, Rect, TextAppearance
from tests.signing.pkitools import Issued, MemoryKeyCustody, ThrowawayPki, now_utc
from tests.support.corpus import CORPUS

MINIMAL = CORPUS / "pdf" / "valid_simple_minimal_pyhanko.pdf"
NOTO_TTC = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
# A valid unified social credit code (check character per GB 32100-2015).
USCC = "91310000MA1FL8XQ37"


@pytest.fixture(scope="session")
def cjk_font(tmp_path_factory: pytest.TempPathFactory) -> CjkFont:
    return CjkFont(extract_face(NOTO_TTC, 2, tmp_path_factory.mktemp("fonts") / "noto-sc.otf"))


@pytest.fixture(scope="session")
def throwaway() -> ThrowawayPki:
    """A CA chain, TSA and CRLs made in memory (shared; tests that revoke make their own)."""
    return ThrowawayPki(now=now_utc())


@dataclass
class PadesKit:
    """Sign and complete with pades.* directly, keys in memory custody."""

    pki: ThrowawayPki
    custody: MemoryKeyCustody
    font: CjkFont

    def signer(self, issued: Issued) -> CustodySigner:
        label = f"k{issued.cert.serial_number:x}"
        if self.custody.get(label) is None:
            self.custody.add(label, issued.key)
        chain = [asn1_x509.Certificate.load(der) for der in self.pki.chain_der]
        return CustodySigner(
            custody=self.custody,
            key_label=label,
            signing_cert=asn1_x509.Certificate.load(issued.der),
            other_certs=chain,
        )

    def sign(
        self,
        data: bytes,
        issued: Issued,
        field: str,
        *,
        look: Appearance | None = None,
        page: int = 0,
        rect: Rect | None = None,
        timestamper: object = None,
    ) -> bytes:
        signer = self.signer(issued)
        look = look or TextAppearance()
        text = appearance.stamp_text(
            signer_name=str(issued.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value),
            at=now_utc(),
            serial_hex=format(issued.cert.serial_number, "x"),
        )
        return pades.sign(
            data,
            signer=signer,
            timestamper=timestamper or self.pki.timestamper(),  # type: ignore[arg-type]
            style=appearance.stamp_style(look, text=text, cjk_font=self.font),
            field_name=field,
            page=page,
            rect=rect or Rect(x1=10, y1=10, x2=200, y2=70),
            reason="同意",
            location="上海",
            bytes_reserved=pades.reserved_size(issued.der, self.pki.chain_der, signer.signature_size),
        )

    def complete(self, data: bytes) -> bytes:
        return pades.complete(
            data,
            timestamper=self.pki.timestamper(),
            trust_roots=[asn1_x509.Certificate.load(self.pki.root.der)],
            other_certs=[asn1_x509.Certificate.load(der) for der in self.pki.chain_der],
            crls=self.pki.crls(),
            at=now_utc(),
        )

    @property
    def roots(self) -> list[bytes]:
        return [self.pki.root.der]


@pytest.fixture
def kit(throwaway: ThrowawayPki, cjk_font: CjkFont) -> PadesKit:
    return PadesKit(pki=throwaway, custody=MemoryKeyCustody(), font=cjk_font)


@dataclass
class Signer:
    """A subject with a platform certificate (via pki_service)."""

    cert: pki_service.CertificateRead
    chain: list[bytes]


MakeSigner = Callable[..., Signer]


@pytest.fixture
def make_signer(runtime: Runtime) -> MakeSigner:
    """Return `make_signer(kind="person"|"org", name=...)`, issuing through pki_service (committed)."""

    def make(kind: str = "person", name: str | None = None) -> Signer:
        with runtime.transaction() as session:
            if kind == "person":
                cert = pki_service.issue_person_certificate(
                    session=session, clock=runtime.clock, subject_id=new_id("usr"), name=name or "张三"
                )
            else:
                cert = pki_service.issue_org_certificate(
                    session=session,
                    clock=runtime.clock,
                    subject_id=new_id("org"),
                    org_name=name or "示例科技有限公司",
                    uscc=USCC,
                )
            chain = pki_service.ca_chain(session=session)
        return Signer(cert=cert, chain=chain)

    return make
