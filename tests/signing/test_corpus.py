"""Every file of the shared PDF corpus is either signed correctly or refused with a clear error.

Each file runs in its own child process (`corpus_worker`) under a time budget, so a hostile file
(cyclic references, lying page counts, decompression bombs) fails its own test instead of hanging
the suite. Signed outputs are checked with poppler's pdfsig and qpdf as well.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from qianshu.pki import errors as pki_errors
from qianshu.signing import errors as signing_errors
from tests.support.corpus import CORPUS

REPO = Path(__file__).resolve().parents[2]
MANIFEST = CORPUS / "pdf" / "manifest.tsv"
BUDGET_SECONDS = 90
KNOWN_REFUSALS = {cls.slug for cls in vars(signing_errors).values() if isinstance(cls, type) and hasattr(cls, "slug")}
KNOWN_REFUSALS |= {cls.slug for cls in vars(pki_errors).values() if isinstance(cls, type) and hasattr(cls, "slug")}


def _rows() -> list[dict[str, str]]:
    if not MANIFEST.exists():
        return []
    with MANIFEST.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


ROWS = _rows()


def _run_worker(pdf: Path, out_dir: Path) -> dict[str, Any]:
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "tests.signing.corpus_worker", str(pdf), str(out_dir)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=BUDGET_SECONDS,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{pdf.name}: no outcome within {BUDGET_SECONDS} s (hang)")
    assert proc.returncode == 0, f"{pdf.name} crashed:\n{proc.stdout}\n{proc.stderr[-3000:]}"
    outcome: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return outcome


def _pdfsig(path: Path) -> dict[str, bool]:
    """Return pdfsig's verdict per signature field: True for "Signature is Valid."."""
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60).stdout
    verdicts = {}
    for block in out.split("Signature #")[1:]:
        for line in block.splitlines():
            if "Signature Field Name:" in line:
                verdicts[line.split(":", 1)[1].strip()] = "Signature is Valid." in block
    return verdicts


@pytest.mark.skipif(not ROWS, reason=f"shared corpus not found at {CORPUS} (../shared/corpus)")
@pytest.mark.parametrize("row", ROWS, ids=[r["file"] for r in ROWS])
def test_corpus_file_is_signed_or_refused_clearly(row: dict[str, str], tmp_path: Path) -> None:
    pdf = CORPUS / "pdf" / row["file"]
    outcome = _run_worker(pdf, tmp_path)

    gate, sign = outcome["gate"], outcome["sign"]
    assert gate == "accepted" or gate in KNOWN_REFUSALS, outcome
    assert sign == "signed" or sign in KNOWN_REFUSALS, outcome
    if gate != "accepted" or sign != "signed":
        detail = outcome.get("gate_detail") if gate != "accepted" else outcome.get("sign_detail")
        assert detail, f"refusal without an explanation: {outcome}"
        return

    # Signed: ours is valid at B-T, then B-LTA; every signature that verified before still does.
    ours = outcome["after"][-1]
    assert ours["field"] == "QianshuCorpusSig" and ours["ok"] and ours["level"] == "B-T", outcome
    assert outcome["completed"][-1]["level"] == "B-LTA", outcome
    previous = outcome["before"] if isinstance(outcome["before"], list) else []
    for earlier in previous:
        for stage in ("after", "completed"):
            now = next(s for s in outcome[stage] if s["field"] == earlier["field"])
            for verdict in ("intact", "valid", "permitted"):  # what held before still holds
                assert now[verdict] or not earlier[verdict], (stage, verdict, now, outcome)

    if shutil.which("pdfsig"):  # poppler agrees: ours verifies, and so does every one that did before
        before_pdfsig, after_pdfsig = _pdfsig(pdf), _pdfsig(tmp_path / "completed.pdf")
        assert after_pdfsig.get("QianshuCorpusSig") is True, after_pdfsig
        for field, valid in before_pdfsig.items():
            assert after_pdfsig.get(field) is True or not valid, (field, before_pdfsig, after_pdfsig)
    if shutil.which("qpdf") and row["qpdf_check_rc"] == "0":
        qpdf = subprocess.run(
            ["qpdf", "--check", str(tmp_path / "completed.pdf")], capture_output=True, text=True, timeout=60
        )
        assert qpdf.returncode == 0, qpdf.stdout + qpdf.stderr
