"""Operations endpoints: liveness, readiness, Prometheus metrics and the dead-letter queue API."""

from __future__ import annotations

import hmac
import ipaddress
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from qianshu.core.auth import OperatorUser, get_optional_user, session_token
from qianshu.core.deps import ClockDep, ContextDep, DbSession, RuntimeDep, client_ip
from qianshu.core.errors import Forbidden, Unauthenticated
from qianshu.core.runtime import Runtime
from qianshu.ops import jobs_view, metrics
from qianshu.ops import service as ops_service
from qianshu.ops.schemas import CheckRead, JobCountsRead, JobRead, ReadinessRead

router = APIRouter()


@router.get("/healthz", include_in_schema=False)
def healthz() -> dict[str, str]:
    """Answer while the process serves requests (liveness; touches no dependency)."""
    return {"status": "ok"}


def _sees_details(request: Request, runtime: Runtime) -> bool:
    """Tell whether the caller may see each check's detail: loopback, the metrics token, an operator.

    A request through an untrusted proxy on this machine carries forwarding headers and does not
    count as loopback; behind a trusted proxy (`QIANSHU_TRUSTED_PROXIES`) the forwarded address counts.
    """
    peer = request.client.host if request.client else ""
    forwarded = "x-forwarded-for" in request.headers or "forwarded" in request.headers
    if peer in runtime.settings.trusted_proxies or not forwarded:
        try:
            if ipaddress.ip_address(client_ip(request)).is_loopback:
                return True
        except ValueError:
            pass
    token = runtime.settings.metrics_token
    supplied = request.headers.get("authorization", "")
    if (
        token is not None
        and supplied.startswith("Bearer ")
        and hmac.compare_digest(supplied[7:].encode(), token.get_secret_value().encode())
    ):
        return True
    if not session_token(request):
        return False
    session = runtime.sessionmaker()
    try:  # the database may be the dependency that is down: then no details, no error
        principal = get_optional_user(request, session)
        session.commit()
    except Exception:  # a failed lookup only means "no details"
        session.rollback()
        return False
    finally:
        session.close()
    return principal is not None and principal.is_operator


@router.get(
    "/readyz",
    response_model=ReadinessRead,
    response_model_exclude_none=True,
    responses={503: {"model": ReadinessRead}},
)
def readyz(request: Request, runtime: RuntimeDep) -> JSONResponse:
    """Check the database, blob store, broker and key custody; 503 when any fails.

    Everyone sees the status; each check's detail (backends, revision, errors) only loopback
    callers, the metrics token and operators.
    """
    result = ops_service.readiness(runtime)
    body = ReadinessRead(status="ready" if result.ok else "unavailable")
    if _sees_details(request, runtime):
        body.checks = [CheckRead(name=c.name, ok=c.ok, detail=c.detail, millis=c.millis) for c in result.checks]
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=200 if result.ok else 503,
        headers={"Cache-Control": "no-store"},
    )


def _metrics_allowed(request: Request, session: DbSession, runtime: RuntimeDep) -> None:
    token = runtime.settings.metrics_token
    supplied = request.headers.get("authorization", "")
    if token is not None and supplied.startswith("Bearer "):
        if hmac.compare_digest(supplied[7:].encode(), token.get_secret_value().encode()):
            return
        raise Unauthenticated("指标令牌无效", detail_en="Invalid metrics token")
    principal = get_optional_user(request, session)
    if principal is None:
        raise Unauthenticated(
            "请提供指标令牌或以运营人员身份登录", detail_en="Send the metrics token or sign in as an operator"
        )
    if not principal.is_operator:
        raise Forbidden("仅限平台运营人员", detail_en="Operators only")


@router.get("/metrics", include_in_schema=False)
def metrics_endpoint(request: Request, session: DbSession, runtime: RuntimeDep) -> Response:
    """Expose Prometheus metrics to the metrics token (`QIANSHU_METRICS_TOKEN`) or an operator."""
    _metrics_allowed(request, session, runtime)
    body, content_type = metrics.render_metrics(runtime)
    return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})


@router.get("/api/v1/operator/jobs", response_model=list[JobRead])
def list_jobs(
    operator: OperatorUser,
    session: DbSession,
    status: Annotated[str, Query(pattern="^(queued|running|done|dead)?$")] = "dead",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[JobRead]:
    """List jobs of one status, newest first (dead letters by default; operators only)."""
    return jobs_view.list_jobs(session=session, status=status or None, limit=limit)


@router.get("/api/v1/operator/jobs/counts", response_model=JobCountsRead)
def job_counts(operator: OperatorUser, session: DbSession) -> JobCountsRead:
    """Count jobs by status (operators only)."""
    return jobs_view.counts(session=session)


@router.post("/api/v1/operator/jobs/{job_id}/requeue", response_model=JobRead)
def requeue_job(
    job_id: str, operator: OperatorUser, session: DbSession, clock: ClockDep, context: ContextDep
) -> JobRead:
    """Put a dead job back in the queue, attempts reset (audited)."""
    return jobs_view.requeue_dead(session=session, clock=clock, job_id=job_id, actor=operator.user_id, context=context)
