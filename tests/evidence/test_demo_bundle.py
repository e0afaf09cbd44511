"""`qianshu demo` writes an evidence bundle that `qianshu verify` accepts, and no byte of it can change.

The demo runs once (in-process, on a fresh data directory of its own, as a user runs it); then the
bundle is verified with the root certificate and log key the demo wrote, and for every member of
the ZIP a copy with one flipped byte in that member must be refused with a precise message.
"""

from __future__ import annotations

import io
import json
import re
import shlex
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qianshu.cli import app
from qianshu.core.errors import VerificationFailed
from qianshu.evidence.verifier import STEPS, verify_bundle
from tests.evidence.evidence_support import read_zip

STEP = {s.key: str(s) for s in STEPS}


@dataclass(frozen=True)
class Demo:
    """What the demo wrote and printed."""

    out: Path
    output: str

    @property
    def bundle(self) -> bytes:
        return (self.out / "evidence-bundle.zip").read_bytes()

    @property
    def root(self) -> bytes:
        return (self.out / "root.pem").read_bytes()

    @property
    def log_key(self) -> str:
        return (self.out / "log.key").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    out = tmp_path_factory.mktemp("demo-bundle") / "out"
    # The demo's own data directory (out/data, SQLite): never the test database.
    env = {"QIANSHU_DATABASE_URL": None, "QIANSHU_DATA_DIR": None, "QIANSHU_DEMO": "false"}
    result = CliRunner().invoke(app, ["demo", "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    return Demo(out=out, output=result.output)


def _verify_cli(bundle: Path, demo: Demo) -> tuple[int, str]:
    args = ["verify", str(bundle), "--root", str(demo.out / "root.pem"), "--log-key", str(demo.out / "log.key")]
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


def _flip(data: bytes, at: int) -> bytes:
    changed = bytearray(data)
    changed[at] ^= 0x01
    return bytes(changed)


def _with_member(bundle: bytes, name: str, content: bytes) -> bytes:
    """Return the bundle with member `name` replaced, every other member and the order unchanged."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(bundle)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            target.writestr(info.filename, content if info.filename == name else source.read(info))
    return out.getvalue()


def test_demo_writes_the_bundle_and_prints_the_verify_command(demo: Demo) -> None:
    for name in ("evidence-bundle.zip", "root.pem", "log.key", "signed.pdf"):
        assert (demo.out / name).stat().st_size > 0, name
    expected = shlex.join(
        [
            "qianshu",
            "verify",
            str(demo.out / "evidence-bundle.zip"),
            "--root",
            str(demo.out / "root.pem"),
            "--log-key",
            str(demo.out / "log.key"),
        ]
    )
    assert expected in demo.output
    members = read_zip(demo.bundle)
    # The preserved original is the signed contract itself, byte for byte.
    assert members["subject/original.pdf"] == (demo.out / "signed.pdf").read_bytes()
    manifest = json.loads(members["manifest.json"])
    assert manifest["subject"]["kind"] == "preservation"
    assert re.fullmatch(r"prs_[0-9a-z]{20}", manifest["subject"]["id"])
    assert f"存证 {manifest['subject']['id']}" in demo.output


def test_qianshu_verify_accepts_the_demo_bundle(demo: Demo) -> None:
    code, output = _verify_cli(demo.out / "evidence-bundle.zip", demo)
    assert code == 0, output
    assert all(f"✓ {s}" in output for s in STEPS)
    assert "核验通过 / verified: preservation prs_" in output
    assert "subject/preservation-certificate.pdf: 1 signature(s) valid" in output
    assert "subject/original.pdf: 2 signature(s) valid" in output  # the contract itself, signed here


def test_one_flipped_byte_in_any_member_is_refused(demo: Demo, tmp_path: Path) -> None:
    members = read_zip(demo.bundle)
    assert len(members) >= 12
    for name, content in members.items():
        tampered = tmp_path / "tampered.zip"
        tampered.write_bytes(_with_member(demo.bundle, name, _flip(content, len(content) // 2)))
        code, output = _verify_cli(tampered, demo)
        assert code == 1, (name, output)
        assert f"✗ {STEP['manifest']}: " in output, (name, output)
        assert "核验未通过 / verification FAILED at step (1) manifest" in output
        if name != "manifest.json":
            assert f"SHA-256 of {name} does not match the manifest (file altered)" in output, (name, output)


@pytest.mark.parametrize("where", ["first", "last"])
def test_a_flip_at_either_end_of_any_member_is_refused(demo: Demo, where: str) -> None:
    members = read_zip(demo.bundle)
    for name, content in members.items():
        at = 0 if where == "first" else len(content) - 1
        with pytest.raises(VerificationFailed) as caught:
            verify_bundle(_with_member(demo.bundle, name, _flip(content, at)), root=demo.root, log_key=demo.log_key)
        assert caught.value.step == STEP["manifest"], (name, caught.value.reason)


def test_no_single_flipped_byte_of_the_manifest_goes_unnoticed(demo: Demo) -> None:
    """The manifest is not signed, so everything in it must be checked.

    Every byte outside the file list is flipped, and in the file list (path, sha256, size, role
    per file, the same shape over and over) every byte of the first entry and every third byte.
    """
    manifest = read_zip(demo.bundle)["manifest.json"]
    files_start = manifest.index(b'"files": [')
    files_end = manifest.index(b"\n  ],", files_start)
    first_end = manifest.index(b"}", files_start)
    positions = [
        at for at in range(len(manifest)) if not files_start < at < files_end or at <= first_end or at % 3 == 0
    ]
    assert len(positions) > len(manifest) // 2
    members = read_zip(demo.bundle)
    for at in positions:
        tampered = io.BytesIO()
        with zipfile.ZipFile(tampered, "w", zipfile.ZIP_STORED) as archive:
            for name, content in members.items():
                archive.writestr(name, _flip(manifest, at) if name == "manifest.json" else content)
        with pytest.raises(VerificationFailed) as caught:
            verify_bundle(tampered.getvalue(), root=demo.root, log_key=demo.log_key)
        assert caught.value.reason, at


def test_a_flipped_byte_in_the_compressed_archive_is_a_precise_error(demo: Demo) -> None:
    with zipfile.ZipFile(io.BytesIO(demo.bundle)) as archive:
        infos = archive.infolist()
    for info in infos:
        # The member's compressed data starts after its local header (30 bytes + name + extra).
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
        corrupt = _flip(demo.bundle, start + info.compress_size // 2)
        with pytest.raises(VerificationFailed) as caught:
            verify_bundle(corrupt, root=demo.root, log_key=demo.log_key)
        assert caught.value.step == STEP["manifest"], info.filename
        reason = caught.value.reason
        assert any(m in reason for m in ("not a readable ZIP archive", "is corrupt", "does not match")), (
            info.filename,
            reason,
        )
