"""Password hashing with argon2id (RFC 9106); parameters come from the settings."""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from qianshu.core.runtime import Runtime


class PasswordHashing:
    """Hash and verify passwords; verify a dummy hash for unknown accounts to even out timing."""

    def __init__(self, runtime: Runtime) -> None:
        s = runtime.settings
        self._hasher = PasswordHasher(
            time_cost=s.password_hash_time_cost,
            memory_cost=s.password_hash_memory_kib,
            parallelism=s.password_hash_parallelism,
            type=Type.ID,
        )
        self._dummy = self._hasher.hash("qianshu-dummy-password-for-timing")

    def hash(self, password: str) -> str:
        """Return the argon2id PHC string for `password` (RFC 9106 §3, random 16-byte salt)."""
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """Tell whether `password` matches `stored`; an absent hash costs the same and fails."""
        try:
            return self._hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        """Tell whether `stored` was made with weaker parameters than the current ones."""
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True


def password_hashing(runtime: Runtime) -> PasswordHashing:
    """Return the runtime's password hasher (`accounts.passwords`)."""
    return runtime.component("accounts.passwords", PasswordHashing)
