"""A validation report as text a person reads (CLI output), Chinese first with English alongside."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from qianshu.signing.schemas import RevocationStatus, ValidationReport

__all__ = ["describe_report"]

_BEIJING = timezone(timedelta(hours=8))
_REVOCATION = {
    RevocationStatus.GOOD: "未吊销 / not revoked",
    RevocationStatus.REVOKED: "已吊销 / REVOKED",
    RevocationStatus.UNKNOWN: "未知（文档内无吊销信息）/ unknown (no revocation data in the document)",
}
_MODIFICATION = {
    "none": "无 / none",
    "lta_updates": "仅长期验证数据 / validation data and time-stamps only",
    "form_filling": "仅后续签名或表单填写 / later signatures or form filling",
    "annotations": "注释 / annotations",
    "other": "其他修改 / OTHER CHANGES",
}


def _common_name(subject: str) -> str:
    for part in subject.split(", "):
        if part.startswith("Common Name: "):
            return part.removeprefix("Common Name: ")
    return subject


def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(_BEIJING).strftime("%Y-%m-%d %H:%M:%S (UTC+8)")


def describe_report(report: ValidationReport) -> list[str]:
    """Return the report as printable lines, one block per signature and document time-stamp."""
    lines: list[str] = []
    if not report.signatures:
        lines.append("文档中没有签名 / the document has no signatures")
    for index, sig in enumerate(report.signatures, start=1):
        verdict = "有效 / VALID" if sig.ok else "无效 / INVALID"
        lines.append(f"签名 #{index} [{sig.field_name}]: {verdict}")
        who = sig.signer_name or "—"
        if sig.signer_org and sig.signer_org != sig.signer_name:
            who += f"（{sig.signer_org}）"
        lines.append(f"  签署人 / signer:            {who}")
        if sig.chain:
            lines.append(f"  证书序列号 / serial:        {sig.chain[0].serial}")
            lines.append(f"  证书链 / chain:             {' → '.join(_common_name(c.subject) for c in sig.chain)}")
        lines.append(f"  签署时间 / signing time:    {_when(sig.signing_time)}")
        ts = "—" if sig.timestamp_valid is None else ("有效 / valid" if sig.timestamp_valid else "无效 / INVALID")
        lines.append(f"  时间戳 / time-stamp:        {_when(sig.timestamp_time)}  {ts}")
        integrity = "完好 / intact" if sig.intact and sig.signature_valid else "已破坏 / BROKEN"
        lines.append(f"  完整性 / integrity:         {integrity}")
        lines.append(f"  证书信任 / trust:           {'受信任 / trusted' if sig.trusted else '不受信任 / NOT trusted'}")
        lines.append(f"  吊销状态 / revocation:      {_REVOCATION[sig.revocation]}")
        change = _MODIFICATION.get(sig.modification_level, sig.modification_level)
        after = f"是 / yes — {change}" if sig.modified_after else "否 / no"
        lines.append(f"  签后修改 / changed after:   {after}")
        lines.append(f"  PAdES 级别 / level:         {sig.pades_level.value if sig.pades_level else '—'}")
        for problem in sig.problems:
            lines.append(f"  ! {problem}")
    for index, ts_report in enumerate(report.document_timestamps, start=1):
        verdict = "有效 / VALID" if ts_report.ok else "无效 / INVALID"
        lines.append(f"文档时间戳 #{index} [{ts_report.field_name}]: {verdict}")
        lines.append(f"  时间 / time:                {_when(ts_report.timestamp_time)}")
        lines.append(f"  时间戳机构 / TSA:           {ts_report.tsa or '—'}")
    lines.append(
        "结论 / result: " + ("全部签名有效 / all signatures valid" if report.ok else "存在无效签名 / NOT VALID")
    )
    return lines
