"""HTML pages of the evidence domain, mounted by `app.create_app` through `router`."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)

from qianshu.evidence import evidence_pages  # noqa: E402

router.include_router(evidence_pages.router)
