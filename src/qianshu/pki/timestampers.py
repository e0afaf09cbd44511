"""pyHanko time-stampers: the in-process TSA, or a remote RFC 3161 TSA over HTTP.

Both raise `TimestampUnavailable` (a ServiceUnavailable) when no token comes back, so a signature
is never made silently without its time-stamp.
"""

from __future__ import annotations

import asyncio
from typing import Any

from asn1crypto import cms, tsp
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper, TimestampRequestError
from sqlalchemy.orm import Session

from qianshu.core.errors import QianshuError
from qianshu.core.runtime import Runtime
from qianshu.pki import tsa
from qianshu.pki.errors import TimestampUnavailable

__all__ = ["LocalTimeStamper", "RemoteTimeStamper", "timestamper_for"]


async def _checked(call: Any) -> cms.ContentInfo:
    try:
        token: cms.ContentInfo = await call
    except QianshuError:
        raise
    except (TimeoutError, TimestampRequestError, OSError, ValueError) as exc:
        raise TimestampUnavailable(
            "无法取得时间戳，未进行签署", detail_en=f"No time-stamp token: {type(exc).__name__}"
        ) from exc
    return token


class LocalTimeStamper(TimeStamper):
    """Ask the in-process TSA (RFC 3161 §2.4) without HTTP, in the caller's session when given.

    Pass the caller's `session` when it already holds a write transaction (SQLite allows one
    writer); without one, each token is issued in its own short transaction.
    """

    def __init__(
        self, runtime: Runtime, *, session: Session | None = None, include_nonce: bool = True
    ) -> None:
        super().__init__(include_nonce=include_nonce)  # type: ignore[no-untyped-call]  # pyHanko's is untyped
        self._runtime = runtime
        self._session = session

    def _respond(self, request_der: bytes) -> tsa.TsaReply:
        if self._session is not None:
            return tsa.respond(session=self._session, clock=self._runtime.clock, request_der=request_der)
        with self._runtime.transaction() as session:
            return tsa.respond(session=session, clock=self._runtime.clock, request_der=request_der)

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsa.TimeStampResponse:
        """Submit `req` to the local TSA and return its TimeStampResp; raise when it refuses."""
        der = req.dump()
        if self._session is not None:
            reply = self._respond(der)  # the session belongs to this thread
        else:
            reply = await asyncio.to_thread(self._respond, der)
        if not reply.granted:
            raise TimestampUnavailable(
                "时间戳服务拒绝了请求，未进行签署",
                detail_en=f"The time-stamp authority refused: {reply.failure}",
            )
        response: tsa.TimeStampResponse = tsa.TimeStampResponse.load(reply.der)
        return response

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> cms.ContentInfo:
        """Return a token for `message_digest`; raise TimestampUnavailable when refused."""
        return await _checked(super().async_timestamp(message_digest, md_algorithm))


class RemoteTimeStamper(HTTPTimeStamper):
    """pyHanko's HTTP time-stamper, raising TimestampUnavailable instead of IOError."""

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> cms.ContentInfo:
        """Return a token for `message_digest`; raise TimestampUnavailable when refused or unreachable."""
        return await _checked(super().async_timestamp(message_digest, md_algorithm))


def timestamper_for(runtime: Runtime, *, session: Session | None = None) -> TimeStamper:
    """Return the TSA client for signatures: remote when `settings.tsa_url` is set, else in-process."""
    url = runtime.settings.tsa_url
    if url:
        return RemoteTimeStamper(url, timeout=10)
    return LocalTimeStamper(runtime, session=session)
