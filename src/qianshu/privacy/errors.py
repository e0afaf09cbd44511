"""Errors of the privacy centre and compliance operations; details never carry personal data."""

from __future__ import annotations

from qianshu.core.errors import Conflict, Forbidden, InvalidInput, NotFound

__all__ = [
    "CancellationBlocked",
    "CollectionStopped",
    "ExportNotReady",
    "IncidentNotFound",
    "RequestNotFound",
    "RequestStateConflict",
    "StaffRoleRequired",
]


class RequestNotFound(NotFound):
    """No such request visible to this person."""

    slug = "privacy-request-not-found"
    title = "未找到该请求"
    title_en = "No such request"


class RequestStateConflict(Conflict):
    """The request's state does not allow this step."""

    slug = "privacy-request-state"
    title = "该请求当前状态不允许此操作"
    title_en = "The request's state does not allow this step"


class StaffRoleRequired(Forbidden):
    """The operator lacks the sub-role this action needs (least privilege, P10)."""

    slug = "staff-role-required"
    title = "您的运营角色无权执行此操作"
    title_en = "Your operator role does not allow this"


class CancellationBlocked(Conflict):
    """The account cannot be cancelled yet; `blockers` lists why."""

    slug = "cancellation-blocked"
    title = "暂时无法注销账户"
    title_en = "The account cannot be cancelled yet"


class ExportNotReady(NotFound):
    """The data copy does not exist, is not ready, or its link expired."""

    slug = "export-not-available"
    title = "副本不存在、尚未生成或链接已过期"
    title_en = "The copy is missing, not ready, or its link expired"


class IncidentNotFound(NotFound):
    """No such incident."""

    slug = "incident-not-found"
    title = "未找到该事件"
    title_en = "No such incident"


class CollectionStopped(InvalidInput):
    """The service is winding down and no longer collects personal information (P15)."""

    slug = "collection-stopped"
    status = 410
    title = "服务已停止运营，不再收集个人信息"
    title_en = "The service is winding down and no longer collects personal information"
