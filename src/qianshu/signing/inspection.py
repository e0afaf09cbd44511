"""Reading untrusted PDFs: what we refuse and why, with the clause of ISO 32000-1 at stake.

Two depths. `open_pdf` runs on every sign/validate call and costs next to nothing: header, strict
cross-reference parsing, encryption, hybrid references and the document-level actions in the
catalog. `inspect_pdf` is the upload gate (`check_pdf_acceptable` runs it in a child process with
time and memory limits): it also walks every object for JavaScript/launch actions, walks the page
tree, makes sure pyHanko can map the object graph (or no later change could ever be analysed) and
checks that signatures already in the file verify and permit what was appended after them.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfDecodeLimitError, PdfReadError, PdfStrictReadError
from pyhanko.pdf_utils.reader import PdfFileReader

from qianshu.core.errors import QianshuError
from qianshu.signing.errors import (
    PdfActiveContent,
    PdfCorrupt,
    PdfEncrypted,
    PdfNotPdf,
    PdfTooComplex,
    PdfUnsupportedStructure,
)

__all__ = [
    "StrictReadComplaint",
    "deref",
    "get",
    "inspect_pdf",
    "open_pdf",
    "parse_guard",
    "pdf_failure",
    "with_lenient_retry",
]

T = TypeVar("T")

_HEADER_WINDOW = 1024  # readers accept up to 1 KiB of junk before %PDF- (ISO 32000-1 Annex H.3)
_ACTIVE_ACTIONS = {"/JavaScript", "/Launch", "/RichMediaExecute", "/ImportData"}  # §12.6.4
_MAX_OBJECTS = 2_000_000


class StrictReadComplaint(PdfCorrupt):
    """pyHanko's strict mode objected to something a lenient reading may accept (retry leniently)."""


def pdf_failure(exc: BaseException) -> QianshuError:
    """Return the QianshuError that explains a PDF parser failure on untrusted bytes."""
    if isinstance(exc, QianshuError):
        return exc
    if isinstance(exc, PdfDecodeLimitError | RecursionError | MemoryError):
        return PdfTooComplex(
            "PDF 中的数据解压后过大或嵌套过深", detail_en=f"Decoding limit exceeded ({type(exc).__name__})"
        )
    detail_en = f"The PDF structure cannot be read ({type(exc).__name__}: {exc})"[:300]
    if isinstance(exc, PdfStrictReadError):
        return StrictReadComplaint("无法解析 PDF 文件结构", detail_en=detail_en)
    return PdfCorrupt("无法解析 PDF 文件结构", detail_en=detail_en)


@contextmanager
def parse_guard() -> Iterator[None]:
    """Turn any failure of the PDF parser on untrusted bytes into a clear QianshuError."""
    try:
        yield
    except QianshuError:
        raise
    except Exception as exc:  # the parser's failure modes on hostile bytes are open-ended
        raise pdf_failure(exc) from exc


def with_lenient_retry(operation: Callable[[bool], T]) -> T:
    """Run `operation(strict=True)`; when strict parsing objected, run it again leniently."""
    try:
        return operation(True)
    except StrictReadComplaint:
        return operation(False)


def _check_header(data: bytes) -> None:
    """Require the %PDF-n.m header (ISO 32000-1 §7.5.2) near the start of the file."""
    if b"%PDF-" not in data[:_HEADER_WINDOW]:
        raise PdfNotPdf("文件不是 PDF 文档（缺少 %PDF 文件头）", detail_en="The file has no %PDF header")
    if b"%%EOF" not in data[-2048:]:
        raise PdfCorrupt("PDF 文件不完整（缺少文件结束标记）", detail_en="The PDF is truncated (no %%EOF marker)")


def deref(obj: generic.PdfObject | None) -> generic.PdfObject | None:
    """Resolve an indirect reference (ISO 32000-1 §7.3.10); other objects pass through."""
    if isinstance(obj, generic.IndirectObject):
        return obj.get_object()  # type: ignore[no-untyped-call,no-any-return]  # pyHanko leaves it untyped
    return obj


def get(container: generic.DictionaryObject, key: str) -> generic.PdfObject | None:
    """Return `container[key]` resolved (indirect values allowed anywhere, ISO 32000-1 §7.3.10), or None."""
    return deref(container.get(key))


def _action_types(action: generic.PdfObject, depth: int = 0) -> Iterator[str]:
    """Yield the /S of an action and of its /Next chain (ISO 32000-1 §12.6.2)."""
    if depth > 16:
        return
    obj = deref(action)
    if isinstance(obj, generic.DictionaryObject):
        kind = get(obj, "/S")
        if isinstance(kind, generic.NameObject):
            yield str(kind)
        nxt = get(obj, "/Next")
        if isinstance(nxt, generic.ArrayObject):
            for item in nxt:
                yield from _action_types(item, depth + 1)
        elif nxt is not None:
            yield from _action_types(nxt, depth + 1)


def _check_catalog(reader: PdfFileReader) -> None:
    """Refuse document-level scripts, launch actions and XFA (ISO 32000-1 §12.6.3, §7.7.3, §12.7.8)."""
    root = reader.root
    names = get(root, "/Names")
    if isinstance(names, generic.DictionaryObject) and "/JavaScript" in names:
        raise PdfActiveContent("PDF 含有文档级 JavaScript", detail_en="The PDF has document-level JavaScript")
    additional = get(root, "/AA")  # WillClose, WillSave, WillPrint… (ISO 32000-1 §12.6.3 Table 197)
    if isinstance(additional, generic.DictionaryObject) and any(
        _ACTIVE_ACTIONS & set(_action_types(action)) for action in additional.values()
    ):
        raise PdfActiveContent(
            "PDF 含有文档级附加动作（如关闭、打印时运行脚本）",
            detail_en="The PDF has document additional-actions (/AA) that run scripts",
        )
    open_action = get(root, "/OpenAction")
    if open_action is not None and _ACTIVE_ACTIONS & set(_action_types(open_action)):
        raise PdfActiveContent(
            "PDF 打开时会运行脚本或外部程序", detail_en="The PDF runs a script or program when opened"
        )
    acroform = get(root, "/AcroForm")
    if isinstance(acroform, generic.DictionaryObject) and "/XFA" in acroform:
        raise PdfActiveContent("PDF 含有 XFA 动态表单", detail_en="The PDF contains an XFA form")
    if get(root, "/NeedsRendering"):
        raise PdfActiveContent("PDF 为动态 XFA 文档", detail_en="The PDF is a dynamic XFA document")


def _read(data: bytes, strict: bool) -> PdfFileReader:
    """Parse the cross-reference data and the catalog (ISO 32000-1 §7.5); strict unless told otherwise.

    Lenient reading is for strictness-only complaints (e.g. a free-list entry of generation 65536,
    common from real producers); unreadable structure still fails either way.
    """
    if strict:
        try:
            reader = PdfFileReader(io.BytesIO(data), strict=True)
            _ = reader.root
            return reader
        except PdfStrictReadError:
            pass
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    _ = reader.root
    return reader


def open_pdf(data: bytes, *, for_signing: bool = True, strict: bool = True) -> PdfFileReader:
    """Parse `data` strictly and apply the cheap checks; raise a QianshuError explaining any refusal.

    Validation (`for_signing=False`) reads documents we would not sign, such as forms with scripts.
    """
    _check_header(data)
    with parse_guard():
        reader = _read(data, strict)
        if "/Encrypt" in reader.trailer:
            raise PdfEncrypted()
        if not for_signing:
            return reader
        if reader.xrefs.hybrid_xrefs_present:
            raise PdfUnsupportedStructure(
                "PDF 使用混合交叉引用表，不同阅读器可能显示不同内容",
                detail_en="The PDF uses hybrid cross-reference sections that readers may resolve differently",
            )
        _check_catalog(reader)
    return reader


def _scan_objects(reader: PdfFileReader) -> None:
    """Walk every object for JavaScript and launch actions (ISO 32000-1 §12.6.4.16, §12.6.4.5)."""
    refs: set[generic.Reference] = set()
    for revision in range(reader.xrefs.total_revisions):
        refs |= reader.xrefs.explicit_refs_in_revision(revision)
        if len(refs) > _MAX_OBJECTS:
            raise PdfTooComplex("PDF 对象过多", detail_en="The PDF has too many objects")
    for ref in sorted(refs, key=lambda r: (r.idnum, r.generation)):
        obj = reader.get_object(ref)  # type: ignore[no-untyped-call]  # pyHanko leaves it untyped
        if not isinstance(obj, generic.DictionaryObject):
            continue
        kind = get(obj, "/S")
        if "/JS" in obj or (isinstance(kind, generic.NameObject) and str(kind) in _ACTIVE_ACTIONS):
            raise PdfActiveContent(
                "PDF 含有 JavaScript 或启动外部程序的动作",
                detail_en="The PDF contains JavaScript or launch actions",
            )
        if "/XFA" in obj:
            raise PdfActiveContent("PDF 含有 XFA 动态表单", detail_en="The PDF contains an XFA form")


def _walk_pages(reader: PdfFileReader) -> int:
    """Count the pages by walking the page tree, refusing cycles and bad nodes (ISO 32000-1 §7.7.3)."""
    root_ref = reader.root.raw_get("/Pages")
    if not isinstance(root_ref, generic.IndirectObject):
        raise PdfCorrupt("PDF 页面树无效", detail_en="The page tree root is not an indirect object")
    count = 0
    seen: set[generic.Reference] = set()
    stack: list[tuple[generic.IndirectObject, int]] = [(root_ref, 0)]
    while stack:
        ref, depth = stack.pop()
        if ref.reference in seen:
            raise PdfCorrupt("PDF 页面树存在循环引用", detail_en="The page tree contains a cycle")
        if depth > 64:
            raise PdfTooComplex("PDF 页面树嵌套过深", detail_en="The page tree is nested too deeply")
        seen.add(ref.reference)
        node = deref(ref)
        if not isinstance(node, generic.DictionaryObject):
            raise PdfCorrupt("PDF 页面树无效", detail_en="A page tree node is not a dictionary")
        if str(get(node, "/Type")) == "/Page" or "/Kids" not in node:
            count += 1
            continue
        kids = node["/Kids"]
        if not isinstance(kids, generic.ArrayObject):
            raise PdfCorrupt("PDF 页面树无效", detail_en="A page tree node has no /Kids array")
        for kid in reversed(kids):
            if not isinstance(kid, generic.IndirectObject):
                raise PdfCorrupt("PDF 页面树无效", detail_en="A page tree child is not an indirect object")
            stack.append((kid, depth + 1))
    if count == 0:
        raise PdfCorrupt("PDF 没有页面", detail_en="The PDF has no pages")
    declared = get(reader.root["/Pages"], "/Count")
    if not isinstance(declared, int) or declared != count:
        raise PdfCorrupt(
            "PDF 声明的页数与实际页数不符",
            detail_en=f"The page tree declares {declared} pages but holds {count}",
        )
    return count


def _check_object_graph(reader: PdfFileReader) -> None:
    """Refuse documents pyHanko's difference analysis cannot map (cyclic page or structure trees).

    Every later signature is judged by comparing revisions object by object, starting from the
    paths by which each object is reachable from the trailer; a document whose graph cannot be
    mapped would leave every signature on it unverifiable after the next update.
    """
    latest = reader.get_historical_resolver(reader.xrefs.total_revisions - 1)
    mapper = getattr(latest, "_load_reverse_xref_cache", None)  # pyHanko's mapping stage (reader.py)
    if mapper is None:
        return
    try:
        mapper()
    except PdfReadError as exc:
        raise PdfCorrupt(
            "PDF 的对象结构存在循环引用，签署后无法校验后续修改",
            detail_en=f"The object graph cannot be mapped for change detection: {exc}"[:300],
        ) from exc


def inspect_pdf(data: bytes) -> int:
    """Run every acceptance check on `data`; return the page count or raise the refusal."""
    from qianshu.signing.existing import check_existing_signatures

    def inspect(strict: bool) -> int:
        reader = open_pdf(data, strict=strict)
        with parse_guard():
            pages = _walk_pages(reader)
            _scan_objects(reader)
            _check_object_graph(reader)
            check_existing_signatures(reader, later_changes=True)
        return pages

    return with_lenient_retry(inspect)
