"""`verify_bundle`: the offline verifier, numbered steps in the order of `format.STEPS`.

It trusts nothing but the root certificate and the log's verifier key given to it. Each step
either passes (and is reported with what it checked) or raises `VerificationFailed` whose `step`
names it, e.g. `(5) inclusion`, and whose `reason` says what failed in the standard's words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from qianshu.core.errors import InvalidInput, VerificationFailed
from qianshu.evidence import checkpoint
from qianshu.evidence.verifier import audit, log, pdf, trust
from qianshu.evidence.verifier.archive import open_bundle
from qianshu.evidence.verifier.format import STEPS, Step

__all__ = ["BundleReport", "StepResult", "verify_bundle"]


@dataclass(frozen=True)
class StepResult:
    """A passed step and what it checked, one line per item."""

    step: Step
    details: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BundleReport:
    """Every step passed: the subject, the log position and each step's details."""

    subject_kind: str
    subject_id: str
    tree_size: int
    steps: list[StepResult]


def _parse_log_key(log_key: str) -> str:
    text = log_key.strip()
    try:
        checkpoint.parse_verifier_key(text)
    except VerificationFailed as exc:
        raise InvalidInput(
            "日志公钥格式不正确（应为 name+keyid+key）", detail_en=f"Malformed log key: {exc.reason}"
        ) from exc
    return text


def verify_bundle(
    source: bytes | Path,
    *,
    root: bytes,
    log_key: str,
    progress: Callable[[StepResult], None] | None = None,
    pdf_guard: Callable[[bytes], None] | None = None,
) -> BundleReport:
    """Verify a bundle offline against the root (PEM/DER) and the log key; raise VerificationFailed.

    `progress` is called after each passed step; `pdf_guard(pdf)` may refuse a PDF before step (7)
    parses it (the public verify page inspects untrusted PDFs in a sandboxed child process).
    """
    key = _parse_log_key(log_key)
    try:
        anchor = trust.load_root(root)
    except ValueError as exc:
        raise InvalidInput("根证书无法读取", detail_en=str(exc)) from exc
    results: list[StepResult] = []

    def passed(number: int, details: list[str]) -> None:
        result = StepResult(step=STEPS[number - 1], details=details)
        results.append(result)
        if progress is not None:
            progress(result)

    bundle = open_bundle(source)
    passed(1, [f"{len(bundle.manifest.files)} files match their SHA-256"])

    material = trust.load_trust_material(bundle, anchor)
    tokens = trust.check_timestamps(bundle, material)
    passed(
        2,
        [f"{path}: genTime {facts.gen_time.isoformat()} serial {facts.serial_hex}" for path, facts in tokens],
    )

    passed(3, trust.check_certificates(bundle, material))

    chains = audit.check_audit(bundle)
    passed(4, [f"{stream}: {len(hashes)} events" for stream, hashes in chains.items()])

    bound = {f.sha256 for f in bundle.manifest.files} | {facts.imprint.hex() for _p, facts in tokens}
    entries = log.check_inclusion(bundle, bound_hashes=bound, audit=chains)
    passed(5, [f"{e.path}: index {e.index} in tree of {e.tree_size}" for e in entries])

    tree = log.check_checkpoint_signature(bundle, key)
    passed(6, [f"{tree.origin} size {tree.size}"])

    reports = pdf.check_pdfs(bundle, anchor, pdf_guard)
    passed(7, [f"{path}: {len(r.signatures)} signature(s) valid" for path, r in reports.items()])
    return BundleReport(
        subject_kind=bundle.manifest.subject_kind,
        subject_id=bundle.manifest.subject_id,
        tree_size=tree.size,
        steps=results,
    )
