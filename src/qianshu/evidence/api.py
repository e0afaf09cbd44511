"""REST routers of the evidence domain, mounted by `app.create_app` through `router`."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

from qianshu.evidence import evidence_api  # noqa: E402

router.include_router(evidence_api.router)

from qianshu.evidence.log_api import router as log_router  # noqa: E402

router.include_router(log_router)  # the transparency log: /log/… (C2SP tlog-tiles) and /api/v1/log/…
