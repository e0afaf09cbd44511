"""The sandbox bank: a real HTTP service that plays the payment provider of micro-deposit checks.

It accepts what `HttpBankTransfers` sends (`POST /sandbox/bank/v1/transfers`, HMAC-signed JSON),
refuses bad or stale signatures with 401, and books each transfer in a bounded in-memory ledger
that the account holder reads back as a statement: the page `/sandbox/bank` or
`POST /sandbox/bank/v1/statement` (tests and demo users). The ledger lives in the provider's
process, as a real bank's would (the same pattern as notify's SMS sandbox). The router is mounted
on the platform only when `QIANSHU_SANDBOX` is on.

Sandbox accounts: any 8-30 digit number exists, except that a number ending in `0000` is closed
and one ending in `4040` does not exist, so refusals can be tried out.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from qianshu.core.clock import Clock
from qianshu.core.errors import Conflict, InvalidInput, NotFound
from qianshu.core.ids import new_id
from qianshu.core.request_signing import read_json_body
from qianshu.core.runtime import Runtime
from qianshu.orgs.providers import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_request

PREFIX = "/sandbox/bank"
LEDGER_SIZE = 1000
_SEPARATORS = re.compile(r"[\s\-]")
_ACCOUNT = re.compile(r"[0-9]{8,30}")


class TransferIn(BaseModel):
    """A transfer order as the platform sends it."""

    model_config = ConfigDict(extra="ignore")

    reference: str = Field(min_length=1, max_length=64)
    account_name: str = Field(min_length=1, max_length=128)
    account_number: str = Field(min_length=1, max_length=40)
    bank_name: str = Field(min_length=1, max_length=60)
    amount_cents: int = Field(ge=1, le=100_000)
    currency: str = Field(pattern=r"^CNY$")
    memo: str = Field(min_length=1, max_length=64)


class TransferAccepted(BaseModel):
    """The sandbox bank booked the transfer."""

    id: str
    status: str = "accepted"


class StatementIn(BaseModel):
    """Which account's statement to show."""

    model_config = ConfigDict(extra="forbid")

    account_number: str = Field(min_length=1, max_length=40)


class StatementLine(BaseModel):
    """One incoming transfer on the statement."""

    id: str
    amount: str  # yuan, two decimals
    memo: str
    payer: str
    booked_at: datetime


class Statement(BaseModel):
    """Incoming transfers of one account, newest first."""

    transfers: list[StatementLine]


class TransferRefused(InvalidInput):
    """The sandbox bank refuses the transfer; `code` says why (as a bank's API would)."""

    slug = "sandbox-bank-refused"
    title = "银行拒绝了转账"
    title_en = "The bank refused the transfer"


@dataclass(frozen=True)
class _Booked:
    id: str
    reference: str
    account: str
    account_name: str
    amount_cents: int
    memo: str
    booked_at: datetime


def canonical_account(value: str) -> str:
    """Return an account number without spaces or hyphens."""
    return _SEPARATORS.sub("", value)


def yuan(cents: int) -> str:
    """Format cents as yuan with two decimals (`37` → `0.37`)."""
    return f"{cents // 100}.{cents % 100:02d}"


class SandboxBank:
    """The fake bank's state: its secret, its clock and a bounded ledger (newest kept)."""

    def __init__(
        self, *, secret: bytes, clock: Clock, max_skew_seconds: int = 300, capacity: int = LEDGER_SIZE
    ) -> None:
        self._secret = secret
        self._clock = clock
        self._max_skew = max_skew_seconds
        self._ledger: deque[_Booked] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def accept(self, *, body: bytes, timestamp: str | None, signature: str | None) -> TransferAccepted:
        """Verify and book one transfer; a repeated `reference` returns the first booking (idempotent)."""
        verify_request(
            secret=self._secret,
            timestamp=timestamp,
            signature=signature,
            body=body,
            now=self._clock.now(),
            max_skew_seconds=self._max_skew,
        )
        data = read_json_body(TransferIn, body)
        account = canonical_account(data.account_number)
        if not _ACCOUNT.fullmatch(account):
            raise TransferRefused("账号格式不正确", detail_en="Malformed account number", code="invalid_account")
        if account.endswith("4040"):
            raise TransferRefused("账户不存在", detail_en="No such account", code="account_not_found")
        if account.endswith("0000"):
            raise TransferRefused("账户已销户", detail_en="The account is closed", code="account_closed")
        with self._lock:
            for seen in self._ledger:
                if seen.reference == data.reference:
                    if (seen.account, seen.amount_cents) != (account, data.amount_cents):
                        raise Conflict("转账编号已被使用", detail_en="The reference was used for another transfer")
                    return TransferAccepted(id=seen.id)
            booked = _Booked(
                id=new_id("btx"),
                reference=data.reference,
                account=account,
                account_name=data.account_name,
                amount_cents=data.amount_cents,
                memo=data.memo,
                booked_at=self._clock.now(),
            )
            self._ledger.append(booked)
        return TransferAccepted(id=booked.id)

    def statement(self, *, account_number: str) -> Statement:
        """Return the incoming transfers of one account, newest first."""
        account = canonical_account(account_number)
        with self._lock:
            items = [b for b in reversed(self._ledger) if b.account == account]
        return Statement(
            transfers=[
                StatementLine(
                    id=b.id,
                    amount=yuan(b.amount_cents),
                    memo=b.memo,
                    payer="签署平台（沙盒）",
                    booked_at=b.booked_at,
                )
                for b in items
            ]
        )


def _build_local(runtime: Runtime) -> SandboxBank:
    settings = runtime.settings
    return SandboxBank(
        secret=settings.bank_hmac_secret.get_secret_value().encode("utf-8"),
        clock=runtime.clock,
        max_skew_seconds=settings.bank_signature_max_skew_seconds,
    )


def local_bank(runtime: Runtime) -> SandboxBank:
    """Return the sandbox bank mounted in this process (one per runtime)."""
    return runtime.component("orgs.bank_sandbox", _build_local)


def _bank(request: Request) -> SandboxBank:
    runtime = getattr(request.app.state, "runtime", None)
    if not isinstance(runtime, Runtime) or not runtime.settings.sandbox:
        raise NotFound()
    return local_bank(runtime)


Bank = Annotated[SandboxBank, Depends(_bank)]
router = APIRouter(prefix=PREFIX, tags=["sandbox"], include_in_schema=False)


@router.post("/v1/transfers", status_code=201, response_model=TransferAccepted)
async def receive_transfer(request: Request, bank: Bank) -> TransferAccepted:
    """Book a signed transfer order, as a payment provider would."""
    body = await request.body()
    return bank.accept(
        body=body,
        timestamp=request.headers.get(TIMESTAMP_HEADER),
        signature=request.headers.get(SIGNATURE_HEADER),
    )


@router.post("/v1/statement", response_model=Statement)
def read_statement(body: StatementIn, bank: Bank) -> Statement:
    """Return an account's incoming transfers (what the account holder sees in online banking)."""
    return bank.statement(account_number=body.account_number)


@router.get("", response_class=HTMLResponse)
def statement_page(request: Request, bank: Bank) -> HTMLResponse:
    """Show the sandbox bank's statement form."""
    from qianshu.web.render import render

    return render(request, "orgs/sandbox_bank.html", {"statement": None, "account": ""})


@router.post("", response_class=HTMLResponse)
def statement_page_submit(
    request: Request, bank: Bank, account_number: Annotated[str, Form(max_length=40)] = ""
) -> HTMLResponse:
    """Show the statement of the account typed in."""
    from qianshu.web.render import render

    account = canonical_account(account_number)
    statement = bank.statement(account_number=account) if account else None
    return render(
        request,
        "orgs/sandbox_bank.html",
        {"statement": statement, "account": account[-4:] if account else ""},
    )
