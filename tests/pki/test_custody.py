"""Key custody backends against the KeyCustody protocol: sealed files and PKCS#11 (SoftHSM2)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from qianshu.core.ids import new_id
from qianshu.core.runtime import Runtime
from qianshu.pki.custody import KeyCustody, custody_for
from qianshu.pki.errors import (
    CustodyUnavailable,
    KeyAlreadyExists,
    SigningKeyMissing,
    UnsupportedKeyAlgorithm,
)
from qianshu.pki.file_custody import FileKeyCustody
from qianshu.pki.pkcs11_custody import Pkcs11KeyCustody

BACKENDS = ["file", "pkcs11"]


@pytest.fixture(params=BACKENDS)
def custody(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeyCustody]:
    if request.param == "file":
        yield FileKeyCustody(tmp_path / "keys", b"k" * 32)
        return
    hsm: dict[str, str] = request.getfixturevalue("softhsm")
    backend = Pkcs11KeyCustody(module=hsm["module"], token_label=hsm["label"], pin=hsm["pin"])
    yield backend
    backend.close()


def _label() -> str:
    return f"test.{new_id('key')}"


def _verify(public_der: bytes, signature: bytes, message: bytes) -> None:
    public = serialization.load_der_public_key(public_der)
    if isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    elif isinstance(public, rsa.RSAPublicKey):
        public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(public, ed25519.Ed25519PublicKey)
        public.verify(signature, message)


def test_backends_satisfy_the_protocol(custody: KeyCustody) -> None:
    assert isinstance(custody, KeyCustody)


@pytest.mark.parametrize("algorithm", ["ecdsa-p256", "rsa-3072", "ed25519"])
def test_generate_get_sign_verify(custody: KeyCustody, algorithm: str) -> None:
    label = _label()
    ref = custody.generate(label, algorithm)  # type: ignore[arg-type]
    assert ref.label == label and ref.algorithm == algorithm
    assert custody.get(label) == ref
    message = b"qianshu signs this"
    if algorithm == "ed25519":
        signature = custody.sign_digest(label, message, "")
    else:
        signature = custody.sign_digest(label, hashlib.sha256(message).digest(), "sha256")
    _verify(ref.public_key_der, signature, message)
    with pytest.raises(InvalidSignature):
        _verify(ref.public_key_der, signature, message + b"!")


def test_ecdsa_signature_is_der(custody: KeyCustody) -> None:
    label = _label()
    custody.generate(label, "ecdsa-p256")
    signature = custody.sign_digest(label, hashlib.sha256(b"x").digest(), "sha256")
    assert signature[0] == 0x30  # SEQUENCE { r, s }, RFC 3279 §2.2.3, not raw r‖s


def test_destroy_makes_signing_fail(custody: KeyCustody) -> None:
    label = _label()
    custody.generate(label, "ecdsa-p256")
    custody.destroy(label)
    assert custody.get(label) is None
    with pytest.raises(SigningKeyMissing):
        custody.sign_digest(label, hashlib.sha256(b"x").digest(), "sha256")
    custody.destroy(label)  # idempotent


def test_labels_are_unique(custody: KeyCustody) -> None:
    label = _label()
    custody.generate(label, "ecdsa-p256")
    with pytest.raises(KeyAlreadyExists):
        custody.generate(label, "ecdsa-p256")


def test_unknown_label_is_none(custody: KeyCustody) -> None:
    assert custody.get(_label()) is None


def test_digest_must_match_its_algorithm(custody: KeyCustody) -> None:
    label = _label()
    custody.generate(label, "ecdsa-p256")
    with pytest.raises(UnsupportedKeyAlgorithm):
        custody.sign_digest(label, hashlib.md5(b"x").digest(), "md5")
    with pytest.raises(ValueError, match="digest"):
        custody.sign_digest(label, b"short", "sha256")


def test_unknown_algorithm_is_refused(custody: KeyCustody) -> None:
    with pytest.raises(UnsupportedKeyAlgorithm):
        custody.generate(_label(), "dsa-1024")  # type: ignore[arg-type]


# --- sealed key files -----------------------------------------------------------------------


def test_key_files_are_sealed_and_private(tmp_path: Path) -> None:
    custody = FileKeyCustody(tmp_path / "keys", b"s" * 32)
    ref = custody.generate("seal.test", "ecdsa-p256")
    path = tmp_path / "keys" / "seal.test.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o700
    record = json.loads(path.read_text())
    assert set(record) == {"v", "label", "algorithm", "public_key", "nonce", "sealed"}
    assert b"PRIVATE KEY" not in path.read_bytes()
    assert ref.public_key_der not in path.read_bytes()  # stored base64, sealed key unreadable


def test_wrong_sealing_key_cannot_unseal(tmp_path: Path) -> None:
    FileKeyCustody(tmp_path / "keys", b"a" * 32).generate("seal.test", "ecdsa-p256")
    other = FileKeyCustody(tmp_path / "keys", b"b" * 32)
    with pytest.raises(CustodyUnavailable):
        other.sign_digest("seal.test", hashlib.sha256(b"x").digest(), "sha256")


def test_sealed_key_cannot_move_to_another_label(tmp_path: Path) -> None:
    custody = FileKeyCustody(tmp_path / "keys", b"a" * 32)
    custody.generate("first", "ecdsa-p256")
    record = json.loads((tmp_path / "keys" / "first.key").read_text())
    record["label"] = "second"
    (tmp_path / "keys" / "second.key").write_text(json.dumps(record))
    fresh = FileKeyCustody(tmp_path / "keys", b"a" * 32)  # no cache
    with pytest.raises(CustodyUnavailable):
        fresh.get("second")


def test_sealing_key_must_be_256_bits(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        FileKeyCustody(tmp_path / "keys", b"short")


# --- choosing a backend ---------------------------------------------------------------------


def test_custody_for_defaults_to_sealed_files(runtime: Runtime) -> None:
    custody = custody_for(runtime)
    assert isinstance(custody, FileKeyCustody)
    assert custody_for(runtime) is custody  # one per runtime
    assert (runtime.settings.secrets_dir / "custody.key").stat().st_size == 32


def test_custody_for_refuses_unknown_backend(runtime: Runtime) -> None:
    runtime.settings.custody_backend = "cloud"
    runtime._components.pop("pki.custody", None)
    with pytest.raises(CustodyUnavailable, match="Unknown custody backend"):
        custody_for(runtime)


def test_custody_for_pkcs11_needs_a_pin(runtime: Runtime) -> None:
    runtime.settings.custody_backend = "pkcs11"
    runtime.settings.pkcs11_pin = None
    runtime._components.pop("pki.custody", None)
    with pytest.raises(CustodyUnavailable):
        custody_for(runtime)


def test_pkcs11_wrong_pin_is_a_clear_error(softhsm: dict[str, str]) -> None:
    custody = Pkcs11KeyCustody(module=softhsm["module"], token_label=softhsm["label"], pin="0000")
    with pytest.raises(CustodyUnavailable, match="PIN"):
        custody.get("anything")


def test_pkcs11_unknown_token_is_a_clear_error(softhsm: dict[str, str]) -> None:
    custody = Pkcs11KeyCustody(module=softhsm["module"], token_label="no-such-token", pin="1234")
    with pytest.raises(CustodyUnavailable):
        custody.get("anything")


def test_pkcs11_keys_are_not_extractable(softhsm: dict[str, str]) -> None:
    from pkcs11 import Attribute, ObjectClass

    custody = Pkcs11KeyCustody(module=softhsm["module"], token_label=softhsm["label"], pin=softhsm["pin"])
    label = _label()
    custody.generate(label, "ecdsa-p256")

    def attrs(session: object) -> tuple[bool, bool]:
        key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)  # type: ignore[attr-defined]
        return key[Attribute.EXTRACTABLE], key[Attribute.SENSITIVE]

    assert custody._call(attrs) == (False, True)
    custody.close()
