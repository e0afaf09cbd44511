"""Read an evidence bundle ZIP defensively and check it against its manifest (step 1).

Limits keep a hostile archive from exhausting memory: member count, per-member and total
uncompressed size, and a compression-ratio cap; names must be plain relative paths.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from qianshu.core.errors import VerificationFailed
from qianshu.evidence.verifier.format import MANIFEST_NAME, MANIFEST_STEP, Manifest, parse_manifest

__all__ = ["MAX_MEMBERS", "MAX_TOTAL_BYTES", "Bundle", "open_bundle"]

MAX_MEMBERS = 2000
MAX_MEMBER_BYTES = 256 * 1024 * 1024
MAX_TOTAL_BYTES = 1024 * 1024 * 1024
MAX_RATIO = 200  # uncompressed / compressed, beyond which a member is treated as a zip bomb


@dataclass(frozen=True)
class Bundle:
    """A bundle whose every file matched its manifest entry (step 1 passed)."""

    manifest: Manifest
    files: dict[str, bytes]

    def read(self, path: str) -> bytes:
        """Return the bytes of listed file `path`."""
        return self.files[path]

    def sha256(self, path: str) -> str:
        """Return the (verified) SHA-256 of listed file `path`."""
        return self.manifest.file(path).sha256


def _fail(reason: str) -> VerificationFailed:
    return VerificationFailed(step=str(MANIFEST_STEP), reason=reason)


def _read_members(archive: zipfile.ZipFile) -> dict[str, bytes]:
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise _fail(f"more than {MAX_MEMBERS} members")
    total = 0
    members: dict[str, bytes] = {}
    for info in infos:
        name = info.filename
        if info.is_dir():
            continue
        if name.startswith(("/", "\\")) or "\\" in name or ".." in name.split("/") or ":" in name:
            raise _fail(f"unsafe member name {name!r}")
        if name in members:
            raise _fail(f"member {name} appears twice")
        if info.file_size > MAX_MEMBER_BYTES:
            raise _fail(f"member {name} is too large")
        if info.compress_size and info.file_size / info.compress_size > MAX_RATIO and info.file_size > 1 << 20:
            raise _fail(f"member {name} expands suspiciously (zip bomb?)")
        total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise _fail("the archive expands beyond the size limit")
        try:
            with archive.open(info) as fh:
                data = fh.read(MAX_MEMBER_BYTES + 1)
        except zlib.error as exc:  # zipfile checks CRCs, but lets a corrupt deflate stream through raw
            raise _fail(f"member {name} is corrupt: its compressed data cannot be inflated") from exc
        if len(data) != info.file_size:
            raise _fail(f"member {name} does not have its declared size")
        members[name] = data
    return members


def open_bundle(source: bytes | Path) -> Bundle:
    """Open a bundle and check every file against the manifest (step 1); raise VerificationFailed."""
    try:
        raw = source.read_bytes() if isinstance(source, Path) else source
    except OSError as exc:
        raise _fail(f"cannot read the bundle: {type(exc).__name__}") from exc
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            members = _read_members(archive)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError) as exc:
        raise _fail(f"not a readable ZIP archive ({type(exc).__name__})") from exc
    manifest_raw = members.pop(MANIFEST_NAME, None)
    if manifest_raw is None:
        raise _fail("manifest.json is missing")
    manifest = parse_manifest(manifest_raw)
    listed = {f.path for f in manifest.files}
    unlisted = sorted(set(members) - listed)
    if unlisted:
        raise _fail(f"files not in the manifest: {', '.join(unlisted[:5])}")
    for item in manifest.files:
        data = members.get(item.path)
        if data is None:
            raise _fail(f"{item.path} is listed but missing")
        if len(data) != item.size:
            raise _fail(f"{item.path} has {len(data)} bytes, the manifest says {item.size}")
        if hashlib.sha256(data).hexdigest() != item.sha256:
            raise _fail(f"SHA-256 of {item.path} does not match the manifest (file altered)")
    return Bundle(manifest=manifest, files=members)
