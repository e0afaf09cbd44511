"""Key custody in a PKCS#11 token (an HSM; SoftHSM2 in tests) through python-pkcs11.

Keys are generated inside the token as non-extractable, sensitive token objects; only public keys
and signatures come out. SoftHSM2 2.6 has no CKM_ECDSA_SHA256, so every signature is made over a
digest computed here: raw CKM_ECDSA (PKCS#11 v2.40 §2.3.6) whose r‖s output is re-encoded as DER
(RFC 3279 §2.2.3), and CKM_RSA_PKCS over a DigestInfo (RFC 8017 §9.2).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from asn1crypto import keys as asn1_keys
from cryptography.hazmat.primitives.asymmetric import utils as asym_utils

from qianshu.pki.custody import KeyAlgorithm, KeyRef, check_algorithm, check_digest, check_label
from qianshu.pki.errors import CustodyUnavailable, KeyAlreadyExists, SigningKeyMissing

__all__ = ["Pkcs11KeyCustody"]

# DigestInfo DER prefixes, RFC 8017 §9.2 note 1.
_DIGEST_INFO = {
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}
_ED25519_OID = "1.3.101.112"


class Pkcs11KeyCustody:
    """Keys inside one PKCS#11 token, used through a single logged-in session."""

    def __init__(self, *, module: str, token_label: str, pin: str) -> None:
        self.module = module
        self.token_label = token_label
        self._pin = pin
        self._session: Any = None
        self._lock = threading.RLock()

    # --- session -------------------------------------------------------------------------------

    def _open(self) -> Any:
        import pkcs11

        if self._session is not None:
            return self._session
        try:
            lib = pkcs11.lib(self.module)
            token = lib.get_token(token_label=self.token_label)
            self._session = token.open(rw=True, user_pin=self._pin)
        except pkcs11.exceptions.NoSuchToken as exc:
            raise CustodyUnavailable(
                "未找到配置的 PKCS#11 令牌", detail_en=f"No PKCS#11 token labelled {self.token_label!r}"
            ) from exc
        except pkcs11.exceptions.PinIncorrect as exc:
            raise CustodyUnavailable(
                "PKCS#11 PIN 不正确（QIANSHU_PKCS11_PIN）",
                detail_en="The PKCS#11 PIN is incorrect (QIANSHU_PKCS11_PIN)",
            ) from exc
        except (pkcs11.exceptions.PKCS11Error, OSError, RuntimeError) as exc:
            raise CustodyUnavailable(
                "无法打开 PKCS#11 模块或令牌",
                detail_en=f"Cannot open the PKCS#11 token: {type(exc).__name__}",
            ) from exc
        return self._session

    def _call(self, fn: Any) -> Any:
        """Run `fn(session)` under the lock, turning token failures into CustodyUnavailable."""
        import pkcs11

        with self._lock:
            session = self._open()
            try:
                return fn(session)
            except pkcs11.exceptions.PKCS11Error as exc:
                if isinstance(exc, pkcs11.exceptions.SessionClosed | pkcs11.exceptions.SessionHandleInvalid):
                    self._session = None
                raise CustodyUnavailable(
                    "硬件密码模块操作失败", detail_en=f"PKCS#11 operation failed: {type(exc).__name__}"
                ) from exc

    def close(self) -> None:
        """Close the token session (the library stays loaded for the process)."""
        with self._lock:
            if self._session is not None:
                with contextlib.suppress(Exception):  # closing a dead session is not an error
                    self._session.close()
                self._session = None

    # --- the KeyCustody protocol ---------------------------------------------------------------

    def generate(self, label: str, algorithm: KeyAlgorithm) -> KeyRef:
        """Generate a non-extractable key pair `label` inside the token."""
        from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag
        from pkcs11.util.ec import encode_named_curve_parameters

        check_label(label)
        algorithm = check_algorithm(algorithm)
        private_template = {
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.PRIVATE: True,
        }
        caps = MechanismFlag.SIGN | MechanismFlag.VERIFY

        def run(session: Any) -> None:
            if any(True for _ in session.get_objects({Attribute.LABEL: label})):
                raise KeyAlreadyExists(detail_en=f"The token already holds {label}")
            common = {
                "label": label,
                "id": label.encode(),
                "store": True,
                "capabilities": caps,
                "private_template": private_template,
            }
            if algorithm == "rsa-3072":
                session.generate_keypair(KeyType.RSA, 3072, **common)
            elif algorithm == "ecdsa-p256":
                params = session.create_domain_parameters(
                    KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True
                )
                params.generate_keypair(**common)
            else:
                from asn1crypto.core import ObjectIdentifier

                params = session.create_domain_parameters(
                    KeyType.EC_EDWARDS,
                    {Attribute.EC_PARAMS: ObjectIdentifier(_ED25519_OID).dump()},
                    local=True,
                )
                params.generate_keypair(mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN, **common)

        self._call(run)
        ref = self.get(label)
        if ref is None:
            raise CustodyUnavailable(detail_en=f"The token did not keep the new key {label}")
        return ref

    def get(self, label: str) -> KeyRef | None:
        """Return the handle of `label` with its public key as SPKI DER, or None."""
        check_label(label)
        return self._call(lambda session: self._ref(session, label))  # type: ignore[no-any-return]  # _ref's type

    def _ref(self, session: Any, label: str) -> KeyRef | None:
        from pkcs11 import Attribute, KeyType, ObjectClass
        from pkcs11.util.ec import encode_named_curve_parameters

        found = list(session.get_objects({Attribute.LABEL: label, Attribute.CLASS: ObjectClass.PUBLIC_KEY}))
        if not found:
            return None
        public = found[0]
        key_type = public[Attribute.KEY_TYPE]
        algorithm: KeyAlgorithm
        if key_type == KeyType.RSA:
            modulus = public[Attribute.MODULUS]
            exponent = public[Attribute.PUBLIC_EXPONENT]
            spki = asn1_keys.PublicKeyInfo(
                {
                    "algorithm": {"algorithm": "rsa"},
                    "public_key": asn1_keys.RSAPublicKey(
                        {
                            "modulus": int.from_bytes(modulus, "big"),
                            "public_exponent": int.from_bytes(exponent, "big"),
                        }
                    ),
                }
            )
            if len(modulus) * 8 != 3072:
                raise CustodyUnavailable(detail_en=f"Token key {label} is not RSA-3072")
            algorithm = "rsa-3072"
        elif key_type == KeyType.EC:
            if public[Attribute.EC_PARAMS] != encode_named_curve_parameters("secp256r1"):
                raise CustodyUnavailable(detail_en=f"Token key {label} is not on P-256")
            point = asn1_keys.OctetString.load(public[Attribute.EC_POINT]).native
            spki = asn1_keys.PublicKeyInfo(
                {
                    "algorithm": {
                        "algorithm": "ec",
                        "parameters": asn1_keys.ECDomainParameters("named", "secp256r1"),
                    },
                    "public_key": point,
                }
            )
            algorithm = "ecdsa-p256"
        elif key_type == KeyType.EC_EDWARDS:
            point = asn1_keys.OctetString.load(public[Attribute.EC_POINT]).native
            spki = asn1_keys.PublicKeyInfo({"algorithm": {"algorithm": "ed25519"}, "public_key": point})
            algorithm = "ed25519"
        else:
            raise CustodyUnavailable(detail_en=f"Token key {label} has an unsupported type")
        return KeyRef(label=label, algorithm=algorithm, public_key_der=spki.dump())

    def sign_digest(self, label: str, digest: bytes, hash_algorithm: str) -> bytes:
        """Sign a digest inside the token; ECDSA comes back as DER, RSA as PKCS#1 v1.5."""
        from pkcs11 import Attribute, Mechanism, ObjectClass

        check_label(label)

        def run(session: Any) -> bytes:
            ref = self._ref(session, label)
            privates = list(
                session.get_objects({Attribute.LABEL: label, Attribute.CLASS: ObjectClass.PRIVATE_KEY})
            )
            if ref is None or not privates:
                raise SigningKeyMissing(detail_en=f"The token holds no key {label}")
            check_digest(ref.algorithm, digest, hash_algorithm)
            key = privates[0]
            if ref.algorithm == "ecdsa-p256":
                raw = key.sign(digest, mechanism=Mechanism.ECDSA)
                half = len(raw) // 2
                r, s = int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
                return asym_utils.encode_dss_signature(r, s)
            if ref.algorithm == "rsa-3072":
                return bytes(key.sign(_DIGEST_INFO[hash_algorithm] + digest, mechanism=Mechanism.RSA_PKCS))
            return bytes(key.sign(digest, mechanism=Mechanism.EDDSA))

        return self._call(run)  # type: ignore[no-any-return]  # run returns bytes

    def destroy(self, label: str) -> None:
        """Destroy every token object labelled `label` (no error when none exists)."""
        from pkcs11 import Attribute

        check_label(label)

        def run(session: Any) -> None:
            for obj in list(session.get_objects({Attribute.LABEL: label})):
                obj.destroy()

        self._call(run)
