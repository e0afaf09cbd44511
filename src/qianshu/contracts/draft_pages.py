"""The draft's field-placement page: drag the fields onto the pages of a draft (contracts/drafts.py).

A contract made from a template has its PDF only once the template is filled, so the sender
saves a draft and places the fields here, on the pages pdf.js draws from the draft's own
document. The editor (static/placement.js) submits one JSON input; every signer's fields are
replaced at once, or nothing changes and the page shows why.
"""

from __future__ import annotations

import json

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from qianshu.contracts import service as contracts_service
from qianshu.contracts.errors import FieldInvalid
from qianshu.contracts.placement import parse_placement
from qianshu.contracts.schemas import ContractRead, FieldIn
from qianshu.core.errors import InvalidInput, QianshuError
from qianshu.web.acting import PageActingUser, attempt
from qianshu.web.i18n import translator
from qianshu.web.render import Notice, render

router = APIRouter(include_in_schema=False)

_MAX_FORM = 70 * 1024  # the editor's JSON is capped at 64 KiB (contracts/placement.py)


def _signers(contract: ContractRead) -> list[tuple[str, str]]:
    """Return (recipient id, masked contact) of each signer, in the order the editor numbers them."""
    return [(r.id, r.contact_masked) for r in contract.recipients if r.role == "signer"]


def _saved(contract: ContractRead) -> str:
    """Return the draft's fields as the editor's JSON (signer rows 0-based, PDF points)."""
    row_of = {rid: i for i, (rid, _) in enumerate(_signers(contract))}
    return json.dumps(
        [
            {
                "signer": row_of[f.recipient_id],
                "kind": f.kind,
                "page": f.page,
                "x1": f.x1,
                "y1": f.y1,
                "x2": f.x2,
                "y2": f.y2,
                "required": f.required,
            }
            for f in contract.fields
            if f.recipient_id in row_of
        ]
    )


def _page(acting: PageActingUser, contract_id: str, error: QianshuError | None = None, raw: str = "") -> HTMLResponse:
    request, status, notices = acting.request, 200, []
    if error is not None:
        acting.session.rollback()
        locale = str(getattr(request.state, "locale", "zh-CN"))
        notices = [Notice("error", str(error.to_problem(locale=locale)["detail"]))]
        status = error.status
    contract = contracts_service.get_contract_or_raise(
        session=acting.session, contract_id=contract_id, owner_id=acting.user.user_id
    )
    t = translator(str(getattr(request.state, "locale", "zh-CN")))
    labels = [
        t("contracts.placement.js.signer_n", n=i + 1) + " · " + masked
        for i, (_, masked) in enumerate(_signers(contract))
    ]
    context = {
        "contract": contract,
        "pl_signers": labels,
        "pl_value": raw or _saved(contract),
        "notices": notices,
    }
    return render(request, "contracts/fields.html", context, status_code=status)


@router.get("/contracts/{contract_id}/fields", response_class=HTMLResponse, response_model=None)
def fields_page(contract_id: str, acting: PageActingUser) -> Response:
    """Show the draft's pages with its fields, for dragging them into place."""
    contract = contracts_service.get_contract_or_raise(
        session=acting.session, contract_id=contract_id[:40], owner_id=acting.user.user_id
    )
    if contract.status != "draft":  # a sent contract's fields are fixed: back to its page
        return RedirectResponse(f"/contracts/{contract.id}", status_code=303)
    return _page(acting, contract.id)


@router.post("/contracts/{contract_id}/fields", response_model=None)
async def fields_submit(contract_id: str, acting: PageActingUser) -> Response:
    """Replace the draft's fields with those placed in the editor."""
    contract_id = contract_id[:40]
    form = await acting.request.form(max_files=0, max_fields=10, max_part_size=_MAX_FORM)
    value = form.get("placement", "")
    raw = value if isinstance(value, str) else ""

    def act() -> Response:
        contract = contracts_service.get_contract_or_raise(
            session=acting.session, contract_id=contract_id, owner_id=acting.user.user_id
        )
        if not raw:
            raise InvalidInput(
                "文档页面尚未显示，无法保存签署区域", detail_en="The pages are not drawn yet; nothing to save"
            )
        placed = parse_placement(raw, len(_signers(contract)))
        try:
            rows = {i: [FieldIn.model_validate(f) for f in fields] for i, fields in placed.items()}
        except ValidationError:
            raise FieldInvalid(
                "签署区域太小或坐标无效，请重新放置", detail_en="A field is too small or invalid"
            ) from None
        contracts_service.place_fields_by_row(
            session=acting.session,
            clock=acting.clock,
            owner_id=acting.user.user_id,
            contract_id=contract_id,
            rows=rows,
            context=acting.context,
        )
        return RedirectResponse(f"/contracts/{contract_id}?notice=contracts_fields_saved", status_code=303)

    return await run_in_threadpool(
        attempt, act, lambda exc: _page(acting, contract_id, exc, raw), rollback=acting.session
    )
