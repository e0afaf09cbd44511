"""Errors of the PKI domain: certificates, key custody, revocation status and time-stamps."""

from __future__ import annotations

from qianshu.core.errors import Conflict, Forbidden, InvalidInput, NotFound, ServiceUnavailable

__all__ = [
    "CaNotInitialised",
    "CertificateExpired",
    "CertificateNotFound",
    "CertificateRedacted",
    "CertificateRevoked",
    "CertificateSuperseded",
    "CustodyUnavailable",
    "KeyAlreadyExists",
    "NotCertificateOwner",
    "SigningKeyMissing",
    "TimestampUnavailable",
    "UnsupportedKeyAlgorithm",
]


class CertificateNotFound(NotFound):
    """No certificate with that id (or the subject has none)."""

    slug = "certificate-not-found"
    title = "未找到该证书"
    title_en = "Certificate not found"


class CertificateRedacted(Conflict):
    """The holder cancelled their account: the record keeps no certificate (it is sealed for the law)."""

    slug = "certificate-redacted"
    title = "证书持有人已注销账户，平台不再保存该证书内容"
    title_en = "The holder cancelled their account; the certificate itself is no longer kept here"


class CertificateRevoked(Conflict):
    """The certificate was revoked and can no longer be used or changed."""

    slug = "certificate-revoked"
    title = "证书已吊销"
    title_en = "The certificate has been revoked"


class CertificateExpired(Conflict):
    """The certificate is outside its validity period."""

    slug = "certificate-expired"
    title = "证书已过期或尚未生效"
    title_en = "The certificate is expired or not yet valid"


class CertificateSuperseded(Conflict):
    """A newer certificate replaced this one; use the current certificate."""

    slug = "certificate-superseded"
    title = "证书已被更新后的证书取代"
    title_en = "The certificate was superseded by a renewed one"


class NotCertificateOwner(Forbidden):
    """Only the certificate's subject or an operator may do this."""

    slug = "not-certificate-owner"
    title = "仅证书持有人或平台运营人员可执行此操作"
    title_en = "Only the certificate holder or an operator may do this"


class SigningKeyMissing(Conflict):
    """The private key of a certificate is not (or no longer) held by key custody."""

    slug = "signing-key-missing"
    title = "签名密钥不存在或已销毁"
    title_en = "The signing key is missing from key custody"


class KeyAlreadyExists(Conflict):
    """Key custody already holds a key under that label."""

    slug = "key-already-exists"
    title = "密钥标签已被占用"
    title_en = "A key with this label already exists"


class UnsupportedKeyAlgorithm(InvalidInput):
    """The key or hash algorithm is not supported by this operation or backend."""

    slug = "unsupported-key-algorithm"
    title = "不支持的密钥或摘要算法"
    title_en = "Unsupported key or digest algorithm"


class CustodyUnavailable(ServiceUnavailable):
    """The key-custody backend (key files, HSM) failed or is misconfigured."""

    slug = "custody-unavailable"
    title = "密钥托管服务暂不可用"
    title_en = "Key custody is unavailable"


class CaNotInitialised(ServiceUnavailable):
    """The CA hierarchy does not exist yet (run `qianshu ca init`)."""

    slug = "ca-not-initialised"
    title = "证书认证机构尚未初始化"
    title_en = "The certification authority is not initialised"


class TimestampUnavailable(ServiceUnavailable):
    """The time-stamp authority refused or failed; nothing is signed without a time-stamp."""

    slug = "timestamp-unavailable"
    title = "时间戳服务暂不可用"
    title_en = "The time-stamp authority is unavailable"
