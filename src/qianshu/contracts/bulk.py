"""Bulk send (批量发起): a CSV of signers against a template, one contract per good row.

The file is checked as a whole when it arrives (size, encoding, header, row count): a file that is
not a usable CSV is refused at once and nothing is created. UTF-8 (with or without BOM) and GBK
(GB 18030) are read. The header names the signer's columns (`name`/`姓名`, `phone`/`手机号`,
`email`/`邮箱`) and one column per template variable; other columns are ignored.

The rows are then processed by jobs (`contracts.bulk_send`), `contract_bulk_batch_rows` at a time,
each batch in its own transaction so the progress (done / total) shows while it runs. Each row
runs in a SAVEPOINT: a bad row (bad phone, missing variable, …) is rolled back and reported with
its line number and reason, and the good rows go on: document from the template, contract with
one signature field on the last page, sent. The CSV (personal data) is kept encrypted in the blob
store only until the last row is processed, or until the template or the stored file turns out to
be unusable: then the remaining rows are not processed, the bulk send is done with one error on
line 0 (the whole file) and the CSV is deleted. A row that fails for any other reason (a bug) is
reported as an internal error for its line, logged by type without its content, and the rows go on.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from qianshu.contracts import documents, flow
from qianshu.contracts.models import ContractBulkSend
from qianshu.contracts.schemas import ContractCreate, RecipientIn, TemplateFill, TemplateRead
from qianshu.core.clock import Clock
from qianshu.core.deps import RequestContext
from qianshu.core.errors import InvalidInput, NotFound, PayloadTooLarge, QianshuError, ServiceUnavailable
from qianshu.core.ids import is_id, new_id
from qianshu.core.logging import get_logger
from qianshu.core.runtime import runtime_of
from qianshu.evidence import service as evidence_service
from qianshu.jobs import service as jobs_service
from qianshu.storage import service as storage_service

__all__ = [
    "BULK_JOB",
    "BulkFileInvalid",
    "BulkNotFound",
    "BulkSendRead",
    "BulkTooLarge",
    "create_bulk_send",
    "get_bulk_send_or_raise",
    "list_bulk_sends",
    "process_bulk_send",
]

log = get_logger("qianshu.contracts")

BULK_JOB = "contracts.bulk_send"
NAME_COLUMNS = ("name", "姓名", "签署人")
PHONE_COLUMNS = ("phone", "mobile", "手机", "手机号")
EMAIL_COLUMNS = ("email", "e-mail", "邮箱", "电子邮箱")
_BINARY_MAGIC = (b"%PDF", b"PK\x03\x04", b"\x89PNG", b"\xd0\xcf\x11\xe0", b"\xff\xd8\xff", b"GIF8")
_MAX_CELL = 500
# The signer's signature field: on the last page, in the band templates keep free (template_pdf.SIGN_BAND).
_FIELD = {"x1": 80.0, "y1": 90.0, "x2": 230.0, "y2": 150.0}


class BulkFileInvalid(InvalidInput):
    """The upload is not a usable CSV (encoding, header, no rows, too many rows)."""

    slug = "contract-bulk-file-invalid"
    title = "批量发起文件有误"
    title_en = "The bulk-send file is not usable"


class BulkTooLarge(PayloadTooLarge):
    """The CSV is larger than `contract_bulk_max_bytes`."""

    slug = "contract-bulk-too-large"
    title = "批量发起文件过大"
    title_en = "The bulk-send file is too large"


class BulkNotFound(NotFound):
    """No such bulk send (or not yours)."""

    slug = "contract-bulk-not-found"
    title = "未找到该批量发起任务"
    title_en = "No such bulk send"


class BulkRowError(BaseModel):
    """A row that made no contract: its line in the file and why."""

    line: int
    reason: str
    reason_en: str


class BulkRowResult(BaseModel):
    """A row that made a contract, sent."""

    line: int
    contract_id: str


class BulkSendRead(BaseModel):
    """A bulk send and its progress: `done` of `total` rows, `succeeded` contracts, `failed` rows."""

    id: str
    template_id: str
    status: str  # queued | running | done
    total: int
    done: int
    succeeded: int
    failed: int
    deadline: datetime | None
    results: list[BulkRowResult]
    errors: list[BulkRowError]
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class _Sheet:
    header: list[str]
    rows: list[tuple[int, list[str]]]  # (line number in the file, cells)


# --- reading the file ---------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    if not data.strip():
        raise BulkFileInvalid("文件是空的", detail_en="The file is empty")
    if b"\x00" in data or data.startswith(_BINARY_MAGIC):
        raise BulkFileInvalid(
            "这不是 CSV 文件，请上传以逗号分隔的 .csv 文本文件（可由 Excel“另存为 CSV”得到）",
            detail_en="This is not a CSV file; upload comma-separated text (.csv)",
        )
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise BulkFileInvalid(
            "无法识别文件编码，请保存为 UTF-8 或 GBK 编码的 CSV",
            detail_en="Unknown text encoding; save the CSV as UTF-8 or GBK",
        ) from None


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    return next((i for i, h in enumerate(header) if h.lower() in names), None)


def _rows(text: str, *, after_line: int = 0) -> Iterator[tuple[int, list[str]]]:
    """Yield the non-blank CSV records that start after line `after_line`, each with the line it ends on."""
    lines = io.StringIO(text, newline="")
    skipped = sum(1 for _ in itertools.islice(lines, after_line))  # C-speed line skip, no CSV parsing
    reader = csv.reader(lines)
    try:
        for cells in reader:
            if any(c.strip() for c in cells):
                yield skipped + reader.line_num, cells
    except csv.Error:
        line = skipped + reader.line_num
        raise BulkFileInvalid(
            f"第 {line} 行不是有效的 CSV（引号未闭合等）",
            detail_en=f"Line {line} is not valid CSV (unclosed quote or the like)",
        ) from None


def _header(cells: list[str]) -> list[str]:
    return [c.strip() for c in cells]


def read_sheet(data: bytes, variables: list[str], *, max_rows: int) -> _Sheet:
    """Check the CSV as a whole and return its header and non-blank rows with their line numbers."""
    records = _rows(_decode(data))
    first = next(records, None)
    header = _header(first[1]) if first is not None else None
    rows: list[tuple[int, list[str]]] = []
    for record in records:
        rows.append(record)
        if len(rows) > max_rows:
            raise BulkFileInvalid(
                f"一次最多发起 {max_rows} 份合同，请拆分文件",
                detail_en=f"At most {max_rows} rows per file; split it",
            )
    if header is None:
        raise BulkFileInvalid("文件是空的", detail_en="The file is empty")
    named = [h for h in header if h]
    if len(set(named)) != len(named):
        raise BulkFileInvalid("首行的列名有重复", detail_en="The header repeats a column name")
    if _column(header, PHONE_COLUMNS) is None and _column(header, EMAIL_COLUMNS) is None:
        raise BulkFileInvalid(
            "首行需要包含签署人的 phone（手机号）或 email（邮箱）列",
            detail_en="The header needs a phone or an email column for the signer",
        )
    missing = [v for v in variables if v not in header]
    if missing:
        raise BulkFileInvalid(
            "首行缺少模板变量列：" + "、".join(missing),
            detail_en="The header lacks template variable columns: " + ", ".join(missing),
        )
    if not rows:
        raise BulkFileInvalid("文件中没有签署人数据行", detail_en="The file has no data rows")
    return _Sheet(header=header, rows=rows)


# --- creating and reading ---------------------------------------------------------------------


def _read(row: ContractBulkSend) -> BulkSendRead:
    return BulkSendRead(
        id=row.id,
        template_id=row.template_id,
        status=row.status,
        total=row.total,
        done=row.done,
        succeeded=row.succeeded,
        failed=len(row.errors),
        deadline=row.deadline,
        results=[BulkRowResult.model_validate(x) for x in row.results],
        errors=[BulkRowError.model_validate(x) for x in row.errors],
        created_at=row.created_at,
        finished_at=row.finished_at,
    )


def create_bulk_send(
    *,
    session: Session,
    clock: Clock,
    owner_id: str,
    template_id: str,
    data: bytes,
    deadline_days: int | None = None,
    context: RequestContext | None = None,
) -> BulkSendRead:
    """Check the CSV against the template, keep it encrypted and queue its processing."""
    settings = runtime_of(session).settings
    if len(data) > settings.contract_bulk_max_bytes:
        raise BulkTooLarge(
            f"文件超过 {max(1, settings.contract_bulk_max_bytes // 1024)} KB 上限",
            detail_en=f"The file is larger than {settings.contract_bulk_max_bytes} bytes",
        )
    tpl = documents.get_template_or_raise(session=session, template_id=template_id, viewer_id=owner_id)
    if deadline_days is not None and not 1 <= deadline_days <= 365:
        raise InvalidInput("签署期限应为 1 到 365 天", detail_en="The deadline is 1 to 365 days away")
    sheet = read_sheet(data, tpl.variables, max_rows=settings.contract_bulk_max_rows)
    blob = storage_service.store_blob(
        session=session, clock=clock, owner_id=owner_id, stream=data, media_type="text/csv"
    )
    now = clock.now()
    row = ContractBulkSend(
        id=new_id("bulk"),
        owner_id=owner_id,
        template_id=tpl.id,
        csv_blob_id=blob.id,
        deadline=now + timedelta(days=deadline_days) if deadline_days else None,
        status="queued",
        total=len(sheet.rows),
        done=0,
        succeeded=0,
        results=[],
        errors=[],
        created_at=now,
    )
    session.add(row)
    session.flush()
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream=f"user:{owner_id}",
        actor=owner_id,
        action="contracts.bulk_send_created",
        object_id=row.id,
        data={"template_id": tpl.id, "rows": row.total, "csv_sha256": blob.sha256},
        context=context,
    )
    _queue(session, clock, row)
    log.info("bulk_send_created", bulk_id=row.id, rows=row.total)
    return _read(row)


def _queue(session: Session, clock: Clock, row: ContractBulkSend) -> None:
    jobs_service.enqueue(
        session=session,
        clock=clock,
        kind=BULK_JOB,
        payload={"bulk_id": row.id},
        dedupe_key=f"{BULK_JOB}:{row.id}:{row.done}",
    )


def get_bulk_send_or_raise(*, session: Session, owner_id: str, bulk_id: str) -> BulkSendRead:
    """Return the owner's bulk send with its progress, or raise BulkNotFound."""
    row = session.get(ContractBulkSend, bulk_id) if is_id(bulk_id, "bulk") else None
    if row is None or row.owner_id != owner_id:
        raise BulkNotFound()
    session.refresh(row)
    return _read(row)


def list_bulk_sends(*, session: Session, owner_id: str, limit: int = 50) -> list[BulkSendRead]:
    """Return the owner's bulk sends, newest first."""
    rows = session.scalars(
        select(ContractBulkSend)
        .where(ContractBulkSend.owner_id == owner_id)
        .order_by(ContractBulkSend.created_at.desc(), ContractBulkSend.id)
        .limit(limit)
    )
    return [_read(r) for r in rows]


# --- processing ---------------------------------------------------------------------------------


def _cell(header: list[str], cells: list[str], names: tuple[str, ...]) -> str:
    i = _column(header, names)
    return cells[i].strip() if i is not None and i < len(cells) else ""


def _make_contract(
    session: Session, clock: Clock, bulk: ContractBulkSend, tpl: TemplateRead, header: list[str], cells: list[str]
) -> str:
    """Create and send the row's contract; raise a QianshuError naming what is wrong with the row."""
    if len(cells) != len(header):
        raise InvalidInput(
            f"该行有 {len(cells)} 列，首行有 {len(header)} 列",
            detail_en=f"The row has {len(cells)} cells, the header {len(header)}",
        )
    if any(len(c) > _MAX_CELL for c in cells):
        raise InvalidInput(f"单元格内容超过 {_MAX_CELL} 字", detail_en=f"A cell is longer than {_MAX_CELL}")
    values = {v: cells[header.index(v)].strip() for v in tpl.variables}
    empty = [v for v, value in values.items() if not value]
    if empty:
        raise InvalidInput("缺少模板变量：" + "、".join(empty), detail_en="Missing variables: " + ", ".join(empty))
    phone, email = _cell(header, cells, PHONE_COLUMNS), _cell(header, cells, EMAIL_COLUMNS)
    name = _cell(header, cells, NAME_COLUMNS)
    signer: dict[str, Any] = {"phone": phone} if phone else {"email": email or None}
    # Check the contact before a PDF is made for nothing (create_contract checks it again).
    flow._clean_contact(RecipientIn.model_validate(signer))
    doc_title = f"{tpl.title}（{name}）"[:120] if name else tpl.title
    doc = documents.document_from_template(
        session=session,
        clock=clock,
        owner_id=bulk.owner_id,
        template_id=tpl.id,
        data=TemplateFill(title=doc_title, values=values),
    )
    signer["fields"] = [{"kind": "signature", "page": len(doc.pages) - 1, **_FIELD}]
    create = ContractCreate.model_validate(
        {"document_id": doc.id, "title": doc_title, "deadline": bulk.deadline, "recipients": [signer]}
    )
    contract = flow.create_contract(session=session, clock=clock, owner_id=bulk.owner_id, data=create)
    flow.send_contract(session=session, clock=clock, owner_id=bulk.owner_id, contract_id=contract.id)
    return contract.id


_UNEXPECTED = {
    "reason": "处理该行时发生内部错误，未创建合同",
    "reason_en": "An internal error stopped this row; no contract was made",
}


def _row_error(line: int, exc: Exception) -> dict[str, Any]:
    if isinstance(exc, QianshuError):
        return {"line": line, "reason": exc.detail, "reason_en": exc.detail_en}
    if isinstance(exc, ValidationError):
        where = ".".join(str(p) for p in exc.errors()[0]["loc"]) if exc.errors() else ""
        return {"line": line, "reason": f"内容有误：{where}", "reason_en": f"Invalid value: {where}"}
    return {"line": line, **_UNEXPECTED}


def _batch(
    session: Session, row: ContractBulkSend, size: int
) -> tuple[TemplateRead, list[str], list[tuple[int, list[str]]]]:
    """Return the template, the header and the next `size` rows, parsing no row before or after them.

    Rows are processed in file order and each leaves one result or error with its line, so the
    largest recorded line is where the previous batch stopped.
    """
    assert row.csv_blob_id is not None
    tpl = documents.get_template_or_raise(session=session, template_id=row.template_id, viewer_id=row.owner_id)
    text = _decode(storage_service.read_blob_bytes(session=session, blob_id=row.csv_blob_id))
    first = next(_rows(text), None)
    if first is None:
        raise BulkFileInvalid("文件是空的", detail_en="The file is empty")
    last_line = max((x["line"] for x in (*row.results, *row.errors)), default=first[0])
    return tpl, _header(first[1]), list(itertools.islice(_rows(text, after_line=last_line), size))


def _finish(session: Session, clock: Clock, row: ContractBulkSend) -> None:
    """Mark the bulk send done and delete its CSV (personal data)."""
    assert row.csv_blob_id is not None
    row.status, row.finished_at = "done", clock.now()
    if storage_service.get_blob(session=session, blob_id=row.csv_blob_id) is not None:
        storage_service.delete_blob(session=session, clock=clock, blob_id=row.csv_blob_id)
    row.csv_blob_id = None
    log.info("bulk_send_done", bulk_id=row.id, succeeded=row.succeeded, failed=len(row.errors))


def process_bulk_send(*, session: Session, clock: Clock, bulk_id: str) -> int:
    """Process the next batch of rows; queue the following batch or finish; return rows processed.

    When the template or the stored file can no longer be used, the rest of the rows are not
    processed: the bulk send is done with one error (line 0: the whole file) and its CSV deleted.
    """
    row = session.get(ContractBulkSend, bulk_id, with_for_update=True)
    if row is None or row.status == "done" or row.csv_blob_id is None:
        return 0
    settings = runtime_of(session).settings
    try:
        tpl, header, batch = _batch(session, row, settings.contract_bulk_batch_rows)
    except ServiceUnavailable:
        raise  # the store is down for now, the file is not at fault: the job is retried
    except QianshuError as exc:  # template deleted, file missing, unreadable or altered
        log.warning("bulk_send_unusable", bulk_id=row.id, error=exc.slug)
        stopped = {
            "line": 0,
            "reason": f"其余各行未能处理：{exc.detail}",
            "reason_en": f"The remaining rows were not processed: {exc.detail_en}",
        }
        row.errors = [*row.errors, stopped]
        _finish(session, clock, row)
        session.flush()
        return 0
    results, errors = list(row.results), list(row.errors)
    for line, cells in batch:
        try:
            with session.begin_nested():
                contract_id = _make_contract(session, clock, row, tpl, header, cells)
            results.append({"line": line, "contract_id": contract_id})
        except SQLAlchemyError:
            raise  # the database failed, not the row: the job is retried
        except Exception as exc:  # one bad row must not stop the others
            if not isinstance(exc, QianshuError | ValidationError):  # a bug: its message may hold row data
                log.error("bulk_send_row_failed", bulk_id=row.id, line=line, error=type(exc).__name__)
            errors.append(_row_error(line, exc))
    row.results, row.errors = results, errors
    row.done += len(batch)
    row.succeeded = len(results)
    row.status = "running"
    if row.done >= row.total or not batch:
        _finish(session, clock, row)
    session.flush()
    if row.status != "done":
        _queue(session, clock, row)
    return len(batch)
