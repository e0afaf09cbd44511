"""Throw-away PKI for signing tests: CA chain, signer keys in memory custody, CRLs and a TSA.

The real CA lives in `qianshu.pki`; these helpers exist so the signing domain can be tested on
its own, with certificates shaped like DESIGN.md "Cryptographic formats" describes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from qianshu.pki.custody import KeyAlgorithm, KeyRef

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
_HASHES = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}


class MemoryKeyCustody:
    """A KeyCustody whose keys sit in a dict (tests only)."""

    def __init__(self) -> None:
        self.keys: dict[str, tuple[KeyAlgorithm, PrivateKey]] = {}
        self.sign_calls = 0

    def add(self, label: str, key: PrivateKey) -> KeyRef:
        algorithm: KeyAlgorithm = "ecdsa-p256" if isinstance(key, ec.EllipticCurvePrivateKey) else "rsa-3072"
        self.keys[label] = (algorithm, key)
        ref = self.get(label)
        assert ref is not None
        return ref

    def generate(self, label: str, algorithm: KeyAlgorithm) -> KeyRef:
        key: PrivateKey = (
            ec.generate_private_key(ec.SECP256R1())
            if algorithm == "ecdsa-p256"
            else (rsa.generate_private_key(public_exponent=65537, key_size=3072))
        )
        return self.add(label, key)

    def get(self, label: str) -> KeyRef | None:
        if label not in self.keys:
            return None
        algorithm, key = self.keys[label]
        der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return KeyRef(label=label, algorithm=algorithm, public_key_der=der)

    def sign_digest(self, label: str, digest: bytes, hash_algorithm: str) -> bytes:
        self.sign_calls += 1
        if label not in self.keys:
            raise KeyError(label)
        _, key = self.keys[label]
        prehashed = Prehashed(_HASHES[hash_algorithm])
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(digest, ec.ECDSA(prehashed))
        return key.sign(digest, padding.PKCS1v15(), prehashed)

    def destroy(self, label: str) -> None:
        self.keys.pop(label, None)


def _name(cn: str, o: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "CN")]
    if o:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


@dataclass
class Issued:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: PrivateKey

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class ThrowawayPki:
    """Root → issuing CA → end entities, a TSA and CRLs, all made in memory."""

    now: datetime
    root: Issued = field(init=False)
    issuing: Issued = field(init=False)
    tsa: Issued = field(init=False)
    revoked: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root = self._make(_name("Throwaway Root CA", "Qianshu Test"), None, ca=True, path_len=1)
        self.issuing = self._make(_name("Throwaway Issuing CA", "Qianshu Test"), self.root, ca=True, path_len=0)
        self.tsa = self._make(
            _name("Throwaway TSA", "Qianshu Test"),
            self.root,
            tsa=True,
            key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        )

    def _make(
        self,
        subject: x509.Name,
        issuer: Issued | None,
        *,
        ca: bool = False,
        path_len: int | None = None,
        tsa: bool = False,
        key: PrivateKey | None = None,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> Issued:
        key = key or ec.generate_private_key(ec.SECP256R1())
        issuer_key = issuer.key if issuer else key
        issuer_name = issuer.cert.subject if issuer else subject
        nb = not_before or self.now - timedelta(days=1)
        na = not_after or self.now + timedelta(days=3650 if ca else 365)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(nb)
            .not_valid_after(na)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        )
        if ca:
            builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=path_len), critical=True)
            builder = builder.add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
        if issuer is not None:  # like the platform's CA: revocation data is declared (RFC 5280 §4.2.1.13)
            crl_url = f"http://127.0.0.1:9/{'root' if issuer is self.root else 'issuing'}.crl"
            builder = builder.add_extension(
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            full_name=[x509.UniformResourceIdentifier(crl_url)],
                            relative_name=None,
                            reasons=None,
                            crl_issuer=None,
                        )
                    ]
                ),
                critical=False,
            )
        if not ca:
            builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            builder = builder.add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=not tsa,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            if tsa:
                builder = builder.add_extension(
                    x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
                )
        cert = builder.sign(issuer_key, hashes.SHA256())
        return Issued(cert, key)

    def person(
        self,
        name: str,
        *,
        rsa_key: bool = False,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> Issued:
        """Issue an individual's certificate (CN = name)."""
        key: PrivateKey = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if rsa_key
            else ec.generate_private_key(ec.SECP256R1())
        )
        return self._make(_name(name), self.issuing, key=key, not_before=not_before, not_after=not_after)

    def org(self, org_name: str, uscc: str) -> Issued:
        """Issue an organisation's certificate (O = name, organizationIdentifier = USCC)."""
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, org_name),
                x509.NameAttribute(NameOID.COMMON_NAME, org_name),
                x509.NameAttribute(x509.ObjectIdentifier("2.5.4.97"), uscc),
            ]
        )
        return self._make(subject, self.issuing)

    def revoke(self, cert: x509.Certificate) -> None:
        self.revoked.append(cert.serial_number)

    def crl(self, issuer: Issued, *, at: datetime | None = None) -> bytes:
        """Return a DER CRL (RFC 5280 §5) from `issuer` listing the revoked serials it issued."""
        at = at or self.now
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(issuer.cert.subject)
            .last_update(at - timedelta(minutes=1))
            .next_update(at + timedelta(days=1))
            .add_extension(x509.CRLNumber(int(at.timestamp())), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
        )
        for serial in self.revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(at - timedelta(minutes=30))
                .build()
            )
        return builder.sign(issuer.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def crls(self) -> list[bytes]:
        return [self.crl(self.root), self.crl(self.issuing)]

    def timestamper(self, fixed_dt: datetime | None = None) -> DummyTimeStamper:
        """Return an in-process RFC 3161 TSA signing with the TSA certificate."""
        tsa_key = asn1_keys.PrivateKeyInfo.load(
            self.tsa.key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        store = SimpleCertificateStore.from_certs([asn1_x509.Certificate.load(self.root.der)])  # type: ignore[no-untyped-call]
        return DummyTimeStamper(
            tsa_cert=asn1_x509.Certificate.load(self.tsa.der),
            tsa_key=tsa_key,
            certs_to_embed=store,
            fixed_dt=fixed_dt,
        )

    @property
    def chain_der(self) -> list[bytes]:
        """Issuing CA then root, as passed to sign_pdf."""
        return [self.issuing.der, self.root.der]


def now_utc() -> datetime:
    """Return a fixed-ish current time for certificate validity (tests only)."""
    return datetime.now(UTC).replace(microsecond=0)


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()
