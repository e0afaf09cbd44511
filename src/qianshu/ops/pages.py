"""Operator pages of ops: the job queue with its dead letters and a requeue button."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from qianshu.core.auth import PageOperator
from qianshu.core.deps import ClockDep, ContextDep, DbSession
from qianshu.ops import jobs_view
from qianshu.web.render import Notice, render

router = APIRouter(include_in_schema=False)

_STATUSES = ("dead", "queued", "running", "done")
_TEXT = {
    "zh-CN": {
        "title": "后台任务",
        "lead": "失败次数过多的任务进入死信队列；排除原因后可重新排队。",
        "filter": "状态",
        "apply": "筛选",
        "kind": "类型",
        "status": "状态",
        "attempts": "尝试次数",
        "error": "最后错误",
        "created": "创建时间",
        "request": "请求编号",
        "requeue": "重新排队",
        "empty": "没有该状态的任务。",
        "requeued": "任务已重新排队。",
        "dead": "死信",
        "queued": "排队中",
        "running": "运行中",
        "done": "已完成",
    },
    "en": {
        "title": "Background jobs",
        "lead": "Jobs that failed too often are dead-lettered; requeue them once the cause is fixed.",
        "filter": "Status",
        "apply": "Filter",
        "kind": "Kind",
        "status": "Status",
        "attempts": "Attempts",
        "error": "Last error",
        "created": "Created",
        "request": "Request id",
        "requeue": "Requeue",
        "empty": "No jobs in this status.",
        "requeued": "The job was requeued.",
        "dead": "dead",
        "queued": "queued",
        "running": "running",
        "done": "done",
    },
}


@router.get("/operator/jobs", response_class=HTMLResponse)
def jobs_page(
    request: Request,
    session: DbSession,
    operator: PageOperator,
    status: Annotated[str, Query(max_length=16)] = "dead",
    requeued: Annotated[str, Query(max_length=40)] = "",
) -> HTMLResponse:
    """List jobs of one status (dead letters first) with their counts (operators only)."""
    chosen = status if status in _STATUSES else "dead"
    text = _TEXT.get(getattr(request.state, "locale", "zh-CN"), _TEXT["zh-CN"])
    notices = [Notice("success", text["requeued"])] if requeued else []
    return render(
        request,
        "ops/jobs.html",
        {
            "jobs": jobs_view.list_jobs(session=session, status=chosen, limit=200),
            "counts": jobs_view.counts(session=session).counts,
            "status": chosen,
            "statuses": _STATUSES,
            "text": text,
            "notices": notices,
        },
    )


@router.post("/operator/jobs/{job_id}/requeue")
def requeue_from_page(
    job_id: str, session: DbSession, clock: ClockDep, operator: PageOperator, context: ContextDep
) -> RedirectResponse:
    """Requeue a dead job and return to the list."""
    jobs_view.requeue_dead(session=session, clock=clock, job_id=job_id, actor=operator.user_id, context=context)
    return RedirectResponse(f"/operator/jobs?status=dead&requeued={job_id}", status_code=303)
