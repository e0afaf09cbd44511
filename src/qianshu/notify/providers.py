"""Outside message channels: the `SmsSender` and `EmailSender` protocols and their backends.

SMS goes to a provider over HTTP (`HttpSmsSender`): a JSON body signed with HMAC-SHA256
(RFC 2104) under a shared secret. `sms_backend = "sandbox"` is the same adapter pointed at the
sandbox provider (`notify/sandbox.py`, mounted at `/sandbox/sms` or run by `qianshu sandbox`), so
the real HTTP path runs in every setup. E-mail is written to the outbox folder as `.eml` files
(`OutboxEmailSender`) or handed to an SMTP server (`SmtpEmailSender`).

Errors raised here never quote a recipient: their text ends up in the job table.
"""

from __future__ import annotations

import functools
import json
import os
import re
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol, runtime_checkable

import httpx

from qianshu.config import Settings
from qianshu.core import request_signing
from qianshu.core.clock import Clock
from qianshu.core.errors import Unauthenticated
from qianshu.core.request_signing import sign_request

TIMESTAMP_HEADER = "X-Qianshu-Timestamp"
SIGNATURE_HEADER = "X-Qianshu-Signature"
_PROVIDER_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,200}")


class DeliveryError(Exception):
    """A channel could not take a message; the job queue retries it later."""


class SignatureRejected(Unauthenticated):
    """The request to the SMS provider is unsigned, wrongly signed or too old."""

    slug = "sms-signature-rejected"
    title = "短信请求签名无效"
    title_en = "The SMS request signature was rejected"


@runtime_checkable
class SmsSender(Protocol):
    """Hands a text message to an SMS provider."""

    def send(self, *, message_id: str, to: str, text: str) -> str:
        """Send `text` to the phone number `to`; return the provider's message id or raise DeliveryError."""
        ...


@runtime_checkable
class EmailSender(Protocol):
    """Hands an e-mail to the mail system."""

    def send(self, *, message_id: str, message: EmailMessage) -> str:
        """Deliver `message`; return a reference to it (file name, Message-ID) or raise DeliveryError."""
        ...


# --- request signing ------------------------------------------------------------------------


#: Check a signed request (see `core.request_signing`), refusing it with `SignatureRejected`.
verify_request = functools.partial(request_signing.verify_request, error=SignatureRejected)


# --- SMS ------------------------------------------------------------------------------------


class HttpSmsSender:
    """POST a signed JSON body `{message_id, to, text}` to the provider URL; expect 2xx `{"id": …}`.

    One connection pool per sender (httpx clients are safe to share between threads): building a
    client per message cost more CPU than the message itself, and kept no connection open.
    """

    def __init__(
        self,
        *,
        url: str,
        secret: bytes,
        clock: Clock,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError("the SMS provider URL must be http(s)")
        self.url = url
        self._secret = secret
        self._clock = clock
        self._client = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()

    def send(self, *, message_id: str, to: str, text: str) -> str:
        """Send one text message; return the provider's message id."""
        body = json.dumps(
            {"message_id": message_id, "to": to, "text": text}, ensure_ascii=False, separators=(",", ":")
        ).encode("utf-8")
        timestamp = str(int(self._clock.now().timestamp()))
        headers = {
            "content-type": "application/json; charset=utf-8",
            "accept": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign_request(secret=self._secret, timestamp=timestamp, body=body),
        }
        try:
            response = self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"SMS provider unreachable ({type(exc).__name__})") from exc
        if not response.is_success:
            raise DeliveryError(f"SMS provider answered HTTP {response.status_code}")
        try:
            provider_id = response.json().get("id")
        except (ValueError, AttributeError):
            provider_id = None
        if not isinstance(provider_id, str) or not _PROVIDER_ID.fullmatch(provider_id):
            raise DeliveryError("SMS provider reply carries no valid message id")
        return provider_id


# --- e-mail ---------------------------------------------------------------------------------


class OutboxEmailSender:
    """Write each e-mail as `<message id>.eml` (RFC 5322, mode 0600) into the outbox folder."""

    def __init__(self, *, folder: Path) -> None:
        self.folder = folder

    def path_for(self, message_id: str) -> Path:
        """Return the file the message `message_id` is written to."""
        return self.folder / f"{message_id}.eml"

    def send(self, *, message_id: str, message: EmailMessage) -> str:
        """Write the message atomically; return its file name."""
        target = self.path_for(message_id)
        tmp = self.folder / f".{message_id}.tmp"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(message.as_bytes())
            os.replace(tmp, target)
        except OSError as exc:
            raise DeliveryError(f"cannot write the outbox file ({type(exc).__name__})") from exc
        return target.name


class SmtpEmailSender:
    """Hand e-mail to an SMTP server (RFC 5321), with STARTTLS (RFC 3207) and AUTH when configured."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.host, self.port = host, port
        self._username, self._password = username, password
        self._starttls, self._timeout = starttls, timeout

    def send(self, *, message_id: str, message: EmailMessage) -> str:
        """Submit the message; return its Message-ID."""
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self._timeout) as smtp:
                if self._starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self._username:
                    smtp.login(self._username, self._password or "")
                refused = smtp.send_message(message)
        except smtplib.SMTPResponseException as exc:  # the text may quote the address: keep the code only
            raise DeliveryError(f"SMTP server answered {exc.smtp_code}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP delivery failed ({type(exc).__name__})") from None
        if refused:
            raise DeliveryError("SMTP server refused the recipient")
        return str(message["Message-ID"])


# --- choosing a backend ---------------------------------------------------------------------


def build_sms_sender(settings: Settings, clock: Clock) -> SmsSender:
    """Return the SMS sender the settings choose (sandbox and http both speak signed HTTP)."""
    if settings.sms_backend == "sandbox":
        url = settings.effective_sms_url
    elif settings.sms_backend == "http":
        if not settings.sms_url:
            raise ValueError("QIANSHU_SMS_URL must be set when QIANSHU_SMS_BACKEND=http")
        url = settings.sms_url
    else:
        raise ValueError(f"unknown QIANSHU_SMS_BACKEND {settings.sms_backend!r} (sandbox | http)")
    return HttpSmsSender(
        url=url,
        secret=settings.sms_hmac_secret.get_secret_value().encode("utf-8"),
        clock=clock,
        timeout=settings.sms_timeout_seconds,
    )


def build_email_sender(settings: Settings) -> EmailSender:
    """Return the e-mail sender the settings choose (outbox | smtp)."""
    if settings.email_backend == "outbox":
        return OutboxEmailSender(folder=settings.outbox_dir)
    if settings.email_backend == "smtp":
        return SmtpEmailSender(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            starttls=settings.smtp_starttls,
            timeout=settings.smtp_timeout_seconds,
        )
    raise ValueError(f"unknown QIANSHU_EMAIL_BACKEND {settings.email_backend!r} (outbox | smtp)")
