"""Corporate bank account checks: the `BankTransfers` protocol and its backends.

The platform "sends" a small random amount with a memo to the organisation's corporate account
(打款验证) through a payment provider. `HttpBankTransfers` speaks to any provider over a generic
signed-JSON HTTP client (`SignedJsonClient`): the body is signed with HMAC-SHA256 (RFC 2104) over
`timestamp + "." + body` under a shared secret, in the `X-Qianshu-Timestamp` and
`X-Qianshu-Signature` headers (the same scheme as notify's SMS provider). `bank_backend =
"sandbox"` is the same adapter pointed at the sandbox bank (`orgs/sandbox.py`, mounted at
`/sandbox/bank`), so the real HTTP path runs in every setup. `NullBankTransfers` refuses.

Errors raised here never quote an account number.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import httpx

from qianshu.config import Settings
from qianshu.core import request_signing
from qianshu.core.clock import Clock
from qianshu.core.errors import Unauthenticated
from qianshu.core.request_signing import sign_request
from qianshu.orgs.errors import BankRejected, BankUnavailable

TIMESTAMP_HEADER = "X-Qianshu-Timestamp"
SIGNATURE_HEADER = "X-Qianshu-Signature"
_PROVIDER_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

# Reasons a bank may give for refusing a transfer, with what we tell the person.
REJECTIONS: dict[str, tuple[str, str]] = {
    "account_not_found": ("收款账户不存在，请核对账号", "The account does not exist; check the number"),
    "account_closed": ("收款账户已销户或冻结", "The account is closed or frozen"),
    "name_mismatch": ("账户名称与企业名称不一致", "The account name does not match the organisation"),
    "invalid_account": ("银行账号格式不正确", "The account number is malformed"),
}


class BankSignatureRejected(Unauthenticated):
    """A request to the bank provider is unsigned, wrongly signed or too old."""

    slug = "bank-signature-rejected"
    title = "银行接口请求签名无效"
    title_en = "The bank request signature was rejected"


@dataclass(frozen=True)
class TransferReceipt:
    """The provider accepted a transfer: its own id for it."""

    transfer_id: str


@runtime_checkable
class BankTransfers(Protocol):
    """Sends micro-deposits to corporate bank accounts."""

    def send_micro_deposit(
        self,
        *,
        reference: str,
        account_name: str,
        account_number: str,
        bank_name: str,
        amount_cents: int,
        memo: str,
    ) -> TransferReceipt:
        """Transfer `amount_cents` with `memo`; raise BankRejected or BankUnavailable (try later)."""
        ...


# --- request signing ------------------------------------------------------------------------


#: Check a signed request (see `core.request_signing`), refusing it with `BankSignatureRejected`.
verify_request = functools.partial(request_signing.verify_request, error=BankSignatureRejected)


class ProviderError(Exception):
    """A signed call failed: `status` is the HTTP status (0 when unreachable), `body` the JSON reply."""

    def __init__(self, message: str, *, status: int = 0, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body or {}


class SignedJsonClient:
    """POST HMAC-signed JSON to an HTTP provider and return its JSON reply (a generic adapter)."""

    def __init__(
        self,
        *,
        base_url: str,
        secret: bytes,
        clock: Clock,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("the provider URL must be http(s)")
        self.base_url = base_url.rstrip("/")
        self._secret = secret
        self._clock = clock
        self._timeout = timeout
        self._transport = transport

    def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send `payload` to `base_url + path`; return the reply object or raise ProviderError."""
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        timestamp = str(int(self._clock.now().timestamp()))
        headers = {
            "content-type": "application/json; charset=utf-8",
            "accept": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign_request(secret=self._secret, timestamp=timestamp, body=body),
        }
        try:
            with httpx.Client(timeout=self._timeout, transport=self._transport, follow_redirects=False) as client:
                response = client.post(self.base_url + path, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ProviderError(f"provider unreachable ({type(exc).__name__})") from None
        try:
            reply = response.json()
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            raise ProviderError(
                f"provider answered HTTP {response.status_code} without JSON", status=response.status_code
            )
        if not response.is_success:
            raise ProviderError(
                f"provider answered HTTP {response.status_code}", status=response.status_code, body=reply
            )
        return reply


# --- bank transfers -------------------------------------------------------------------------


class HttpBankTransfers:
    """Send micro-deposits through a provider's `POST /v1/transfers` (signed JSON)."""

    def __init__(self, client: SignedJsonClient) -> None:
        self.client = client

    def send_micro_deposit(
        self,
        *,
        reference: str,
        account_name: str,
        account_number: str,
        bank_name: str,
        amount_cents: int,
        memo: str,
    ) -> TransferReceipt:
        """Ask the provider for the transfer; map its refusals to BankRejected."""
        payload = {
            "reference": reference,
            "account_name": account_name,
            "account_number": account_number,
            "bank_name": bank_name,
            "amount_cents": amount_cents,
            "currency": "CNY",
            "memo": memo,
        }
        try:
            reply = self.client.post("/v1/transfers", payload)
        except ProviderError as exc:
            code = exc.body.get("code")
            if exc.status == 422 and isinstance(code, str) and code in REJECTIONS:
                zh, en = REJECTIONS[code]
                raise BankRejected(zh, detail_en=en, reason=code) from None
            raise BankUnavailable(detail_en=f"The bank provider failed: {exc}") from None
        transfer_id = reply.get("id")
        if not isinstance(transfer_id, str) or not _PROVIDER_ID.fullmatch(transfer_id):
            raise BankUnavailable(detail_en="The bank provider's reply carries no valid transfer id")
        return TransferReceipt(transfer_id=transfer_id)


class NullBankTransfers:
    """No bank provider configured: every micro-deposit is refused as unavailable."""

    def send_micro_deposit(
        self,
        *,
        reference: str,
        account_name: str,
        account_number: str,
        bank_name: str,
        amount_cents: int,
        memo: str,
    ) -> TransferReceipt:
        """Refuse: bank account checks are switched off."""
        raise BankUnavailable("本平台未配置对公账户打款验证", detail_en="Bank account checks are not configured")


def build_bank_transfers(settings: Settings, clock: Clock) -> BankTransfers:
    """Return the bank backend the settings choose (sandbox and http both speak signed HTTP)."""
    if settings.bank_backend == "none":
        return NullBankTransfers()
    if settings.bank_backend == "sandbox":
        url = settings.effective_bank_url
    elif settings.bank_backend == "http":
        if not settings.bank_url:
            raise ValueError("QIANSHU_BANK_URL must be set when QIANSHU_BANK_BACKEND=http")
        url = settings.bank_url
    else:
        raise ValueError(f"unknown QIANSHU_BANK_BACKEND {settings.bank_backend!r} (sandbox | http | none)")
    client = SignedJsonClient(
        base_url=url,
        secret=settings.bank_hmac_secret.get_secret_value().encode("utf-8"),
        clock=clock,
        timeout=settings.bank_timeout_seconds,
    )
    return HttpBankTransfers(client)
