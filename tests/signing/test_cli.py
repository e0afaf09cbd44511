"""`qianshu demo` and `qianshu validate`, run as a user runs them (a child process, a fresh data dir)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def _qianshu(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qianshu.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "out"
    done = _qianshu("demo", "--out", str(out), cwd=out.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "结论 / result: 全部签名有效" in done.stdout
    return out


def test_demo_writes_a_completed_contract_and_its_trust_anchors(demo_dir: Path) -> None:
    for name in ("signed.pdf", "root.pem", "tsa.pem", "validation.json", "seal.png"):
        assert (demo_dir / name).stat().st_size > 0, name
    assert (demo_dir / "data" / "qianshu.db").exists()  # a data dir of its own, under DIR
    report = json.loads((demo_dir / "validation.json").read_text(encoding="utf-8"))
    assert report["ok"]
    assert [s["signer_name"] for s in report["signatures"]] == ["张三", "示例科技有限公司"]
    assert [s["pades_level"] for s in report["signatures"]] == ["B-LTA", "B-LTA"]
    assert len(report["document_timestamps"]) == 1
    assert b"-----BEGIN CERTIFICATE-----" in (demo_dir / "root.pem").read_bytes()


def test_validate_accepts_the_demo_with_its_root(demo_dir: Path) -> None:
    done = _qianshu("validate", str(demo_dir / "signed.pdf"), "--trust", str(demo_dir / "root.pem"), cwd=demo_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("B-LTA") == 2 and "张三" in done.stdout
    as_json = _qianshu(
        "validate", str(demo_dir / "signed.pdf"), "--json", "--data-dir", str(demo_dir / "data"), cwd=demo_dir
    )
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["ok"]


def test_validate_fails_a_tampered_copy_and_an_unknown_root(demo_dir: Path, tmp_path: Path) -> None:
    data = bytearray((demo_dir / "signed.pdf").read_bytes())
    at = data.index(b"stream\n", 2000) + 20  # a byte of page content, inside every signature's range
    data[at] ^= 0x01
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(bytes(data))

    done = _qianshu("validate", str(tampered), "--trust", str(demo_dir / "root.pem"), cwd=tmp_path)
    assert done.returncode == 1
    assert "无效 / INVALID" in done.stdout and "已破坏 / BROKEN" in done.stdout

    other_root = tmp_path / "other.pem"
    other_root.write_bytes((demo_dir / "tsa.pem").read_bytes())  # a certificate, but not a trust anchor
    untrusted = _qianshu("validate", str(demo_dir / "signed.pdf"), "--trust", str(other_root), cwd=tmp_path)
    assert untrusted.returncode == 1 and "不受信任 / NOT trusted" in untrusted.stdout


def test_validate_refuses_a_non_pdf_and_a_bad_trust_file_clearly(demo_dir: Path, tmp_path: Path) -> None:
    bogus = tmp_path / "contract.pdf"
    bogus.write_text("not a pdf", encoding="utf-8")
    garbage = tmp_path / "root.pem"
    garbage.write_text("garbage", encoding="utf-8")

    not_pdf = _qianshu("validate", str(bogus), "--trust", str(demo_dir / "root.pem"), cwd=tmp_path)
    bad_trust = _qianshu("validate", str(demo_dir / "signed.pdf"), "--trust", str(garbage), cwd=tmp_path)

    assert not_pdf.returncode == 1 and "%PDF" in not_pdf.stderr and "Traceback" not in not_pdf.stderr
    assert bad_trust.returncode == 1 and "trust roots" in bad_trust.stderr and "Traceback" not in bad_trust.stderr
