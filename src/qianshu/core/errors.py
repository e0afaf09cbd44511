"""One error tree; the app maps it to RFC 9457 problem+json.

Each class has a stable `type` slug (the problem type URI is
`https://qianshu.dev/problems/<slug>`), an HTTP status and a title. Domains subclass these
(`SignerAlreadySigned(Conflict)`). `detail` must never carry personal data.
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_BASE = "https://qianshu.dev/problems/"


class QianshuError(Exception):
    """Base of every error the platform reports to a person or client."""

    slug: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    title: ClassVar[str] = "请求无法完成"
    title_en: ClassVar[str] = "The request could not be completed"

    def __init__(self, detail: str | None = None, *, detail_en: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        self.detail_en = detail_en or (detail if detail and detail.isascii() else self.title_en)
        self.extra = extra
        super().__init__(self.detail_en)

    @property
    def type_uri(self) -> str:
        """Return the stable problem type URI."""
        return PROBLEM_BASE + self.slug

    def to_problem(self, *, locale: str = "zh-CN", instance: str | None = None) -> dict[str, Any]:
        """Return the RFC 9457 problem object."""
        en = locale.startswith("en")
        body: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title_en if en else self.title,
            "status": self.status,
            "detail": self.detail_en if en else self.detail,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class InvalidInput(QianshuError):
    """The input is malformed or breaks a rule."""

    slug = "invalid-input"
    status = 422
    title = "输入有误"
    title_en = "Invalid input"


class BadRequest(QianshuError):
    """The request itself is malformed (not JSON, wrong content type)."""

    slug = "bad-request"
    status = 400
    title = "请求格式错误"
    title_en = "Malformed request"


class Unauthenticated(QianshuError):
    """No valid session or credentials."""

    slug = "unauthenticated"
    status = 401
    title = "请先登录"
    title_en = "Authentication required"


class Forbidden(QianshuError):
    """Authenticated, but not allowed."""

    slug = "forbidden"
    status = 403
    title = "无权执行此操作"
    title_en = "Forbidden"


class CsrfFailed(Forbidden):
    """A cookie-authenticated form came without a valid CSRF token."""

    slug = "csrf-failed"
    title = "页面已过期，请刷新后重试"
    title_en = "The form expired; reload the page and try again"


class NotFound(QianshuError):
    """No such object (or not visible to this actor)."""

    slug = "not-found"
    status = 404
    title = "未找到"
    title_en = "Not found"


class Conflict(QianshuError):
    """The object's state forbids the change."""

    slug = "conflict"
    status = 409
    title = "状态冲突"
    title_en = "Conflict"


class PayloadTooLarge(QianshuError):
    """The body is over the configured size limit."""

    slug = "payload-too-large"
    status = 413
    title = "文件或请求过大"
    title_en = "Payload too large"


class RateLimited(QianshuError):
    """Too many attempts; `retry_after` seconds until the next one is allowed."""

    slug = "rate-limited"
    status = 429
    title = "尝试次数过多，请稍后再试"
    title_en = "Too many attempts"

    def __init__(self, detail: str | None = None, *, retry_after: int, **extra: Any) -> None:
        super().__init__(detail, retry_after=retry_after, **extra)
        self.retry_after = retry_after


class ServiceUnavailable(QianshuError):
    """An outside service (provider, TSA, HSM) failed or timed out."""

    slug = "service-unavailable"
    status = 503
    title = "依赖服务暂不可用，请稍后再试"
    title_en = "A dependent service is unavailable"


class ServerBusy(ServiceUnavailable):
    """This process has as much work as it can take (requests in flight, or no free database connection)."""

    slug = "server-busy"
    title = "服务繁忙，请稍后再试"
    title_en = "The server is busy"

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__(
            "服务繁忙，请稍后重试",
            detail_en="The server is busy; retry shortly",
            retry_after=retry_after,
        )
        self.retry_after = retry_after


class VerificationFailed(QianshuError):
    """A verification step failed; `step` names it in the standard's vocabulary."""

    slug = "verification-failed"
    status = 422
    title = "验证未通过"
    title_en = "Verification failed"

    def __init__(self, *, step: str, reason: str, **extra: Any) -> None:
        super().__init__(f"{step}: {reason}", detail_en=f"{step}: {reason}", step=step, **extra)
        self.step = step
        self.reason = reason


_PG_CONNECTION_STATES = ("08",)  # SQLSTATE class 08: connection exception (PostgreSQL Appendix A)
_PG_SERVER_GONE = {"57P01", "57P02", "57P03"}  # admin_shutdown, crash_shutdown, cannot_connect_now


def database_connection_failed(exc: BaseException) -> bool:
    """Tell whether a database error is a lost or refused connection rather than a failing statement.

    Only these are an outage: SQLAlchemy saw the connection drop (`connection_invalidated`), the
    PostgreSQL driver could not reach or lost the server (an OperationalError with no SQLSTATE, or
    class 08 / 57P01-03), or SQLite could not open its file. A lock or statement timeout, a
    serialisation failure or a misused cursor is a failing request (a 500 we look into), not an outage.
    """
    import sqlite3

    from sqlalchemy.exc import DBAPIError, OperationalError

    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError):
        return False
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        return "unable to open database file" in str(orig)
    if type(orig).__module__.split(".")[0] in {"psycopg", "psycopg2"}:
        state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        return state is None or state.startswith(_PG_CONNECTION_STATES) or state in _PG_SERVER_GONE
    return False


def dependency_unavailable(exc: BaseException) -> ServiceUnavailable | None:
    """Map a lost database or Redis connection (or one explicitly caused by it) to a 503 problem.

    An outage of PostgreSQL or Redis is not a bug of the request: the client gets a clear 503 to
    retry later, not a 500; so is a wait for a pooled connection that timed out (`ServerBusy`,
    the process is overloaded). Returns None for any other error, other database errors included
    (`database_connection_failed`).
    """
    redis_errors: tuple[type[BaseException], ...] = ()
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        redis_errors = (RedisConnectionError, RedisTimeoutError)
    except ImportError:  # the redis extra is not installed
        pass
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    seen: BaseException | None = exc
    for _ in range(4):  # the error itself and a few explicit causes (`raise … from exc`)
        if seen is None:
            break
        if isinstance(seen, PoolTimeout):  # every pooled connection busy for `pool_timeout`: overload
            return ServerBusy()
        if database_connection_failed(seen):
            return ServiceUnavailable(
                "数据库暂不可用，请稍后再试", detail_en="The database is unavailable; retry later"
            )
        if redis_errors and isinstance(seen, redis_errors):
            return ServiceUnavailable("缓存服务暂不可用，请稍后再试", detail_en="Redis is unavailable; retry later")
        seen = seen.__cause__
    return None
