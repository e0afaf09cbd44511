"""The evidence bundle format (version 1): member roles, the manifest, and the numbered steps.

A bundle is a ZIP archive holding `manifest.json` and the files it lists, each with its SHA-256.
The manifest is not signed, so it holds nothing that is not checked: it must be in canonical form
(exactly what `Manifest.to_json` writes), every file of a role that needs a reference must be
referenced, its subject and log origin are bound to the log. Every file is anchored elsewhere:
time-stamp tokens (RFC 3161) and signed PDFs chain to the platform's root certificate, log
entries are proven to be in a log tree whose checkpoint carries the log key's signature
(RFC 6962, C2SP signed-note), and entries carry the hashes of the files they vouch for.
Pure: no database, no web framework.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from qianshu.core.errors import VerificationFailed

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_VERSION",
    "MANIFEST_NAME",
    "ROLES",
    "STEPS",
    "LogEntryRef",
    "Manifest",
    "ManifestFile",
    "Step",
    "TimestampRef",
    "parse_manifest",
]

BUNDLE_FORMAT = "qianshu-evidence-bundle"
BUNDLE_VERSION = 1
MANIFEST_NAME = "manifest.json"
ROLES = frozenset(
    {
        "original",  # the preserved file or the contract as first uploaded
        "signed_pdf",  # a PAdES-signed PDF (signed contract, preservation certificate)
        "report",  # an issued evidence report (a signed PDF too)
        "audit",  # one audit stream, JSON, with its hash chain
        "certificate",  # PEM certificate (the root is never taken from the bundle)
        "crl",  # DER CRL (RFC 5280 §5)
        "ocsp",  # DER OCSPResponse (RFC 6960 §4.2)
        "timestamp",  # DER TimeStampToken: CMS ContentInfo (RFC 3161 §2.4.2)
        "checkpoint",  # signed checkpoint note (C2SP tlog-checkpoint)
        "log_entry",  # the exact leaf data of one log entry (canonical JSON)
        "log_proof",  # an inclusion proof (RFC 9162 §2.1.3) as JSON
    }
)
# Roles whose files a verifier checks only through a reference (time-stamps, audit, log, signed PDFs).
_MUST_BE_REFERENCED = frozenset({"signed_pdf", "report", "audit", "timestamp", "checkpoint", "log_entry", "log_proof"})
_PATH_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}(/[A-Za-z0-9][A-Za-z0-9._-]{0,99}){0,3}$")
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Step:
    """One numbered verification step; `str(step)` is the `step` a failure names."""

    number: int
    key: str
    title: str  # English, with the clause it follows
    title_zh: str

    def __str__(self) -> str:
        return f"({self.number}) {self.key}"


STEPS = (
    Step(1, "manifest", "manifest: SHA-256 of every file", "清单：逐一核对文件的 SHA-256"),
    Step(2, "timestamps", "time-stamp tokens (RFC 3161 §2.4.2) against the root", "可信时间戳（RFC 3161）"),
    Step(
        3,
        "certificates",
        "certificate paths to the root (RFC 5280 §6), CRL/OCSP signatures",
        "证书链与吊销信息",
    ),
    Step(4, "audit", "audit trail hash chains recomputed", "审计日志哈希链"),
    Step(5, "inclusion", "log inclusion proofs (RFC 6962 §2.1.1, RFC 9162 §2.1.3.2)", "透明日志包含证明"),
    Step(6, "checkpoint", "checkpoint signature (C2SP signed-note, tlog-checkpoint)", "日志检查点签名"),
    Step(7, "pdf", "PDF signatures (PAdES, ETSI EN 319 102-1)", "PDF 电子签名"),
)
MANIFEST_STEP = STEPS[0]


@dataclass(frozen=True)
class ManifestFile:
    """One listed file: its path in the archive, SHA-256 (hex), size and role."""

    path: str
    sha256: str
    size: int
    role: str


@dataclass(frozen=True)
class TimestampRef:
    """A time-stamp token, the imprint it must carry and, optionally, the file that imprint covers."""

    token: str
    imprint_sha256: str
    covers: str | None


@dataclass(frozen=True)
class LogEntryRef:
    """A log entry's leaf data and its inclusion proof."""

    entry: str
    proof: str


@dataclass(frozen=True)
class Manifest:
    """The parsed `manifest.json`."""

    subject_kind: str
    subject_id: str
    log_origin: str
    files: tuple[ManifestFile, ...]
    timestamps: tuple[TimestampRef, ...]
    audit: tuple[str, ...]
    checkpoint: str | None
    entries: tuple[LogEntryRef, ...]
    signed_pdfs: tuple[str, ...]
    extra: dict[str, Any] = field(default_factory=dict)

    def file(self, path: str) -> ManifestFile:
        """Return the listed file `path` (KeyError when unlisted)."""
        for item in self.files:
            if item.path == path:
                return item
        raise KeyError(path)

    def with_role(self, role: str) -> list[ManifestFile]:
        """Return the listed files of one role, in manifest order."""
        return [f for f in self.files if f.role == role]

    def to_json(self) -> bytes:
        """Serialise the manifest (sorted keys, two-space indent, UTF-8)."""
        doc = {
            "format": BUNDLE_FORMAT,
            "version": BUNDLE_VERSION,
            "subject": {"kind": self.subject_kind, "id": self.subject_id},
            "log_origin": self.log_origin,
            "files": [{"path": f.path, "sha256": f.sha256, "size": f.size, "role": f.role} for f in self.files],
            "timestamps": [
                {"token": t.token, "imprint_sha256": t.imprint_sha256, "covers": t.covers} for t in self.timestamps
            ],
            "audit": list(self.audit),
            "log": {
                "checkpoint": self.checkpoint,
                "entries": [{"entry": e.entry, "proof": e.proof} for e in self.entries],
            },
            "signed_pdfs": list(self.signed_pdfs),
            **self.extra,
        }
        return (json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _fail(reason: str) -> VerificationFailed:
    return VerificationFailed(step=str(MANIFEST_STEP), reason=reason)


def _str(value: Any, what: str, *, pattern: re.Pattern[str] | None = None, max_len: int = 200) -> str:
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise _fail(f"{what} must be a non-empty string")
    if pattern is not None and not pattern.fullmatch(value):
        raise _fail(f"{what} is malformed")
    return value


def _path(value: Any, what: str) -> str:
    return _str(value, what, pattern=_PATH_RE, max_len=400)


def _optional_path(value: Any, what: str) -> str | None:
    return None if value is None else _path(value, what)


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list) or len(value) > 1000:
        raise _fail(f"{what} must be a list")
    return value


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(f"{what} must be an object")
    return value


def parse_manifest(raw: bytes) -> Manifest:
    """Parse and check the shape of `manifest.json`; raise VerificationFailed at step (1)."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _fail("manifest.json is not UTF-8 JSON") from exc
    doc = _obj(doc, "manifest")
    if doc.get("format") != BUNDLE_FORMAT or doc.get("version") != BUNDLE_VERSION:
        raise _fail(f"not a {BUNDLE_FORMAT} version {BUNDLE_VERSION} manifest")
    subject = _obj(doc.get("subject"), "subject")
    files = []
    seen: set[str] = set()
    for item in _list(doc.get("files"), "files"):
        item = _obj(item, "file")
        path = _path(item.get("path"), "file path")
        if path in seen or path == MANIFEST_NAME:
            raise _fail(f"file {path} is listed twice")
        seen.add(path)
        size = item.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise _fail(f"size of {path} must be a non-negative integer")
        role = _str(item.get("role"), "role")
        if role not in ROLES:
            raise _fail(f"unknown role {role!r} of {path}")
        files.append(ManifestFile(path, _str(item.get("sha256"), "sha256", pattern=_HEX64_RE), size, role))
    timestamps = []
    for item in _list(doc.get("timestamps", []), "timestamps"):
        item = _obj(item, "timestamp")
        timestamps.append(
            TimestampRef(
                token=_path(item.get("token"), "token path"),
                imprint_sha256=_str(item.get("imprint_sha256"), "imprint_sha256", pattern=_HEX64_RE),
                covers=_optional_path(item.get("covers"), "covered path"),
            )
        )
    log = _obj(doc.get("log", {}), "log")
    entries = []
    for item in _list(log.get("entries", []), "log entries"):
        item = _obj(item, "log entry")
        entries.append(LogEntryRef(entry=_path(item.get("entry"), "entry"), proof=_path(item.get("proof"), "proof")))
    manifest = Manifest(
        subject_kind=_str(subject.get("kind"), "subject kind", max_len=32),
        subject_id=_str(subject.get("id"), "subject id", max_len=64),
        log_origin=_str(doc.get("log_origin"), "log_origin"),
        files=tuple(files),
        timestamps=tuple(timestamps),
        audit=tuple(_path(p, "audit path") for p in _list(doc.get("audit", []), "audit")),
        checkpoint=_optional_path(log.get("checkpoint"), "checkpoint"),
        entries=tuple(entries),
        signed_pdfs=tuple(_path(p, "signed PDF path") for p in _list(doc.get("signed_pdfs", []), "signed_pdfs")),
    )
    _check_references(manifest, seen)
    if manifest.to_json() != raw:
        raise _fail("manifest.json is not in canonical form (altered, or unknown fields)")
    return manifest


def _check_references(manifest: Manifest, listed: set[str]) -> None:
    refs: list[tuple[str, str | None, str]] = []
    refs += [(t.token, "timestamp", "time-stamp token") for t in manifest.timestamps]
    refs += [(t.covers, None, "time-stamped file") for t in manifest.timestamps if t.covers]
    refs += [(p, "audit", "audit stream") for p in manifest.audit]
    refs += [(e.entry, "log_entry", "log entry") for e in manifest.entries]
    refs += [(e.proof, "log_proof", "inclusion proof") for e in manifest.entries]
    refs += [(p, None, "signed PDF") for p in manifest.signed_pdfs]
    if manifest.checkpoint is not None:
        refs.append((manifest.checkpoint, "checkpoint", "checkpoint"))
    elif manifest.entries:
        raise _fail("log entries are listed but no checkpoint")
    for path, role, what in refs:
        assert path is not None
        if path not in listed:
            raise _fail(f"the {what} {path} is not a listed file")
        if role is not None and manifest.file(path).role != role:
            raise _fail(f"the {what} {path} does not have role {role}")
    for path in manifest.signed_pdfs:
        if manifest.file(path).role not in ("signed_pdf", "report"):
            raise _fail(f"{path} is listed as a signed PDF but has role {manifest.file(path).role}")
    referenced = {path for path, _role, _what in refs}
    for item in manifest.files:
        if item.role in _MUST_BE_REFERENCED and item.path not in referenced:
            raise _fail(f"{item.path} (role {item.role}) is not referenced by the manifest, so it would go unchecked")
