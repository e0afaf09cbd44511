"""The operator's view of the job queue: dead letters, counts and an audited requeue."""

from __future__ import annotations

from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.deps import RequestContext
from qianshu.core.errors import Conflict, NotFound
from qianshu.core.ids import is_id
from qianshu.core.logging import scrub
from qianshu.evidence import service as evidence_service
from qianshu.jobs import service as jobs_service
from qianshu.ops.schemas import JobCountsRead, JobRead

__all__ = ["JobNotDead", "JobNotFound", "counts", "list_jobs", "requeue_dead"]


class JobNotFound(NotFound):
    """No job has this id."""

    slug = "job-not-found"
    title = "未找到该任务"
    title_en = "No such job"


class JobNotDead(Conflict):
    """Only dead jobs can be requeued."""

    slug = "job-not-dead"
    title = "只能重新排队已失败的任务"
    title_en = "Only dead jobs can be requeued"


def _read(job: object) -> JobRead:
    read = JobRead.model_validate(job)
    if read.last_error:
        read.last_error = scrub(read.last_error)
    return read


def list_jobs(*, session: Session, status: str | None, limit: int = 100) -> list[JobRead]:
    """Return jobs of `status` (all when None), newest first, errors scrubbed of personal data."""
    return [_read(job) for job in jobs_service.list_jobs(session=session, status=status, limit=limit)]


def counts(*, session: Session) -> JobCountsRead:
    """Return the number of jobs in each status."""
    found = jobs_service.count_by_status(session=session)
    return JobCountsRead(counts={s: found.get(s, 0) for s in sorted({"queued", "running", "done", "dead", *found})})


def requeue_dead(
    *, session: Session, clock: Clock, job_id: str, actor: str, context: RequestContext | None = None
) -> JobRead:
    """Requeue the dead job `job_id` and record who did it in the system audit stream."""
    job = jobs_service.get_job(session=session, job_id=job_id) if is_id(job_id, "job") else None
    if job is None:
        raise JobNotFound("未找到该任务", detail_en="No such job")
    if job.status != "dead":
        raise JobNotDead(f"任务状态为 {job.status}，无法重新排队", detail_en=f"The job is {job.status}, not dead")
    jobs_service.requeue(session=session, clock=clock, job_id=job_id)
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream="system",
        actor=actor,
        action="ops.job_requeued",
        object_id=job_id,
        data={"kind": job.kind},
        context=context,
    )
    return _read(job)
