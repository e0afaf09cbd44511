"""HMAC-signed HTTP requests to and from outside providers (SMS, bank), per RFC 2104.

The sender puts a Unix timestamp and hex HMAC-SHA256 over `timestamp + "." + body` in two headers;
the receiver checks the form, the MAC in constant time and the clock skew. Each provider names its
own rejection error (a subclass of `Unauthenticated`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from qianshu.core.errors import BadRequest, InvalidInput, Unauthenticated

M = TypeVar("M", bound=BaseModel)

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")


def sign_request(*, secret: bytes, timestamp: str, body: bytes) -> str:
    """Return hex HMAC-SHA256 (RFC 2104) over `timestamp` + "." + `body`."""
    return hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def verify_request(
    *,
    secret: bytes,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: datetime,
    max_skew_seconds: int,
    error: type[Unauthenticated] = Unauthenticated,
) -> None:
    """Check a signed request: well formed, HMAC matches (constant time), timestamp within the skew."""
    if not timestamp or not signature:
        raise error("缺少签名请求头", detail_en="The signature headers are missing")
    signature = signature.strip().lower()
    if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(signature):
        raise error("签名请求头格式错误", detail_en="The signature headers are malformed")
    expected = sign_request(secret=secret, timestamp=timestamp, body=body)
    if not hmac.compare_digest(expected, signature):
        raise error("签名校验失败", detail_en="The signature does not match")
    if abs(now.timestamp() - int(timestamp)) > max_skew_seconds:
        raise error("签名已过期或时间不同步", detail_en="The signature timestamp is outside the allowed window")


def read_json_body(model: type[M], body: bytes) -> M:
    """Parse a verified request body as `model`: BadRequest for broken JSON, InvalidInput naming bad fields."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise BadRequest("请求体不是合法的 JSON", detail_en="The body is not valid JSON") from None
        fields = "、".join(str(e["loc"][-1]) for e in exc.errors() if e["loc"]) or "?"
        raise InvalidInput(f"以下字段有误：{fields}", detail_en=f"Invalid fields: {fields}") from None
