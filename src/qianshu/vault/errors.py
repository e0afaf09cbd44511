"""Errors of the vault: shredded data, broken ciphertexts, missing keys."""

from __future__ import annotations

from qianshu.core.errors import QianshuError

__all__ = ["DataShredded", "KeyMissing", "VaultIntegrityError"]


class DataShredded(QianshuError):  # named like the core.errors tree
    """The subject's data key was destroyed: their encrypted fields are gone for good."""

    slug = "data-shredded"
    status = 410
    title = "数据已销毁"
    title_en = "The data has been erased"


class VaultIntegrityError(QianshuError):
    """A ciphertext failed authentication: wrong row, column, subject or a tampered value."""

    slug = "vault-integrity"
    status = 500
    title = "加密数据校验失败"
    title_en = "Encrypted data failed its integrity check"


class KeyMissing(QianshuError):  # named like the core.errors tree
    """A key-encryption key named by a data key is not available to this process."""

    slug = "vault-key-missing"
    status = 503
    title = "密钥不可用"
    title_en = "A key-encryption key is unavailable"
