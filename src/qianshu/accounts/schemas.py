"""Pydantic shapes of accounts: requests (strict, size-limited) and masked read models."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_STRICT = ConfigDict(extra="forbid", str_max_length=1024)
Password = Field(min_length=1, max_length=256)
Code = Field(min_length=1, max_length=16)


class ContactIn(BaseModel):
    """Exactly one of a mainland mobile number or an e-mail address."""

    model_config = _STRICT

    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)

    @model_validator(mode="after")
    def _one_of(self) -> ContactIn:
        if bool(self.phone) == bool(self.email):
            raise ValueError("give exactly one of phone or email")
        return self


class RegisterStart(ContactIn):
    """Step 1 of registration: where to send the code."""


class RegisterComplete(ContactIn):
    """Step 2 of registration: the code, a password and the accepted policy version."""

    code: str = Code
    password: str = Password
    accept_policy_version: str = Field(min_length=1, max_length=64)
    display_name: str | None = Field(default=None, max_length=64)


class PasswordLogin(BaseModel):
    """Log in with a phone number or e-mail address and the password."""

    model_config = _STRICT

    login: str = Field(min_length=1, max_length=254)
    password: str = Password


class SmsLoginStart(BaseModel):
    """Ask for a login code by SMS."""

    model_config = _STRICT

    phone: str = Field(min_length=1, max_length=32)


class SmsLogin(SmsLoginStart):
    """Log in with the SMS code."""

    code: str = Code


class PasswordResetStart(BaseModel):
    """Ask for a reset code at the phone or address of the account."""

    model_config = _STRICT

    login: str = Field(min_length=1, max_length=254)


class PasswordResetComplete(PasswordResetStart):
    """Set a new password with the reset code."""

    code: str = Code
    password: str = Password


class SigningPasswordSet(BaseModel):
    """Set or change the signing password (签署密码); the current login password is required."""

    model_config = _STRICT

    current_password: str = Password
    signing_password: str = Password


class SigningPasswordRemove(BaseModel):
    """Remove the signing password; the current login password is required."""

    model_config = _STRICT

    current_password: str = Password


class PasswordChange(BaseModel):
    """Change the password while signed in."""

    model_config = _STRICT

    current_password: str = Password
    new_password: str = Password


class ContactChangeStart(ContactIn):
    """Add or replace the phone or e-mail: the new value and the current password."""

    password: str = Password


class ContactChangeComplete(ContactIn):
    """Confirm the new phone or e-mail with the code sent to it."""

    code: str = Code


class CodeSentRead(BaseModel):
    """A code is on its way (or, for unknown accounts on the login path, seems to be)."""

    channel: Literal["phone", "email"]
    sent_to: str
    expires_in: int
    resend_after: int


class ProfileRead(BaseModel):
    """The signed-in person's own profile, masked."""

    id: str
    role: str
    phone: str | None
    email: str | None
    display_name: str | None
    created_at: datetime
    password_changed_at: datetime | None


class SessionRead(BaseModel):
    """One signed-in device."""

    id: str
    device: str
    method: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    current: bool


class LoginRead(BaseModel):
    """A new session: the bearer token (shown once), the session and the profile."""

    token: str
    token_type: Literal["bearer"] = "bearer"  # the OAuth token type, not a secret
    expires_at: datetime
    session: SessionRead
    user: ProfileRead


class RevokedRead(BaseModel):
    """How many sessions were ended."""

    revoked: int


class UserRead(BaseModel):
    """A user as other domains see it: ids, role and status, no personal data."""

    id: str
    role: str
    status: str
    has_phone: bool
    has_email: bool
    created_at: datetime
    last_login_at: datetime | None


class ContactRead(BaseModel):
    """A user's contact channels in clear, for domains that must reach them (notify, privacy export)."""

    user_id: str
    phone: str | None
    email: str | None
    display_name: str | None
