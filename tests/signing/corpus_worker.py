"""Run one corpus PDF through the platform's path in a child process and print the outcome as JSON.

`python -m tests.signing.corpus_worker FILE OUT_DIR`: the upload gate's inspection (what
`check_pdf_acceptable` runs in its child), then signing, validation and completion with a
throw-away PKI. The parent test enforces the time
budget (a hostile file must not hang the suite) and judges the outcome; anything other than a
QianshuError escaping here is reported as a crash.
"""

from __future__ import annotations

import json
import logging
import resource
import sys
import traceback
from pathlib import Path
from typing import Any


def _signatures(report: Any) -> list[dict[str, Any]]:
    return [
        {
            "field": s.field_name,
            "intact": s.intact,
            "valid": s.signature_valid,
            "ok": s.ok,
            "permitted": s.modifications_permitted,
            "level": s.pades_level.value if s.pades_level else None,
        }
        for s in report.signatures
    ]


def run(path: Path, out_dir: Path) -> dict[str, Any]:
    """Return the outcome of the gate, a direct signing attempt, validation and completion."""
    from qianshu.core.errors import QianshuError
    from qianshu.signing.fonts import CjkFont, extract_face
    from qianshu.signing.inspection import inspect_pdf
    from qianshu.signing.schemas import Rect
    from qianshu.signing.validation import validate
    from tests.signing.conftest import NOTO_TTC, PadesKit
    from tests.signing.pkitools import MemoryKeyCustody, ThrowawayPki, now_utc

    data = path.read_bytes()
    result: dict[str, Any] = {}
    try:
        inspect_pdf(data)  # what check_pdf_acceptable runs in its child process (this one is limited too)
        result["gate"] = "accepted"
    except QianshuError as exc:
        result["gate"] = exc.slug
        result["gate_detail"] = exc.detail_en

    font = CjkFont(extract_face(NOTO_TTC, 2, out_dir / "noto-sc.otf"))
    kit = PadesKit(pki=ThrowawayPki(now=now_utc()), custody=MemoryKeyCustody(), font=font)
    try:
        before = validate(data, trust_roots=kit.roots)
        result["before"] = _signatures(before)
    except QianshuError as exc:
        result["before"] = exc.slug
    try:
        signed = kit.sign(data, kit.pki.person("张三"), "QianshuCorpusSig", rect=Rect(x1=0, y1=0, x2=60, y2=30))
    except QianshuError as exc:
        result["sign"] = exc.slug
        result["sign_detail"] = exc.detail_en
        return result
    result["sign"] = "signed"
    (out_dir / "signed.pdf").write_bytes(signed)
    result["after"] = _signatures(validate(signed, trust_roots=kit.roots))
    completed = kit.complete(signed)
    (out_dir / "completed.pdf").write_bytes(completed)
    result["completed"] = _signatures(validate(completed, trust_roots=kit.roots))
    return result


def main() -> None:
    """Print the outcome for argv[1], writing signed files under argv[2]; exit 3 on a crash."""
    memory = 2048 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    logging.disable(logging.WARNING)  # pyHanko logs expected failures (untrusted foreign certificates)
    try:
        outcome = run(Path(sys.argv[1]), Path(sys.argv[2]))
    except Exception:
        print(json.dumps({"crash": traceback.format_exc()}))
        sys.exit(3)
    print(json.dumps(outcome, ensure_ascii=False))


if __name__ == "__main__":
    main()
