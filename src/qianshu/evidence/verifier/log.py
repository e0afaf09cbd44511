"""Steps (5) and (6): the log entries are in the checkpoint's tree, and the checkpoint is signed.

(5) Each entry's leaf hash is SHA-256(0x00 ‖ entry) (RFC 6962 §2.1); its audit path must lead to
the checkpoint's root (RFC 9162 §2.1.3.2). Entries are bound to the bundle: every `…sha256` value
an entry vouches for must be the hash of a file in the bundle or a verified time-stamp imprint,
an `audit_head` must be an event hash of the bundle's audit chains, an `audit.anchor` entry must
name a bundled stream by the SHA-256 of its name and that chain must hold its `audit_head` as
event number `length` (so a chain cut short or rewritten after anchoring fails), and the
subject itself must be logged (an entry whose `id`, or `<kind>_id` such as `contract_id`, names it and whose `type`
is the kind, or starts with `<kind>.`). (6) The checkpoint must carry a valid Ed25519 signature
by the given log key, name that key's log as its origin (C2SP signed-note, tlog-checkpoint) and
be the log the manifest names.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from qianshu.core.errors import VerificationFailed
from qianshu.evidence import checkpoint, merkle
from qianshu.evidence.verifier.archive import Bundle
from qianshu.evidence.verifier.format import STEPS

__all__ = ["LoggedEntry", "check_checkpoint_signature", "check_inclusion"]

_STEP_INCLUSION, _STEP_CHECKPOINT = str(STEPS[4]), str(STEPS[5])


@dataclass(frozen=True)
class LoggedEntry:
    """An entry proven to be in the checkpoint's tree."""

    path: str
    index: int
    tree_size: int
    entry: dict[str, Any]


def _fail(reason: str) -> VerificationFailed:
    return VerificationFailed(step=_STEP_INCLUSION, reason=reason)


def _proof(path: str, raw: bytes) -> tuple[int, int, list[bytes]]:
    try:
        doc = json.loads(raw.decode("utf-8"))
        index, size, hashes = doc["index"], doc["tree_size"], [bytes.fromhex(h) for h in doc["hashes"]]
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise _fail(f"{path} is not an inclusion proof") from exc
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (index, size)):
        raise _fail(f"{path}: index and tree_size must be integers")
    return index, size, hashes


def _checkpoint_text(bundle: Bundle) -> checkpoint.Checkpoint:
    assert bundle.manifest.checkpoint is not None
    try:
        note = bundle.read(bundle.manifest.checkpoint).decode("utf-8")
        text, _signatures = checkpoint.split_note(note)
        return checkpoint.parse_checkpoint(text)
    except (UnicodeDecodeError, VerificationFailed) as exc:
        raise _fail(f"the checkpoint cannot be read: {getattr(exc, 'reason', exc)}") from exc


def _bind_anchor(path: str, entry: dict[str, Any], audit: dict[str, list[str]]) -> None:
    """An audit anchor names a bundled stream by hash; that chain must have its head at its length."""
    by_hash = {hashlib.sha256(stream.encode("utf-8")).hexdigest(): stream for stream in audit}
    stream = by_hash.get(entry.get("stream_hash"))  # type: ignore[arg-type]  # any JSON value: a miss
    if stream is None:
        raise _fail(f"{path}: the audit anchor names no audit stream of the bundle")
    length, hashes = entry.get("length"), audit[stream]
    if not isinstance(length, int) or isinstance(length, bool) or not 1 <= length <= len(hashes):
        raise _fail(
            f"{path}: the log anchored {stream} at length {length}, the bundle has {len(hashes)} events "
            "(events removed)"
        )
    if hashes[length - 1] != entry.get("audit_head"):
        raise _fail(f"{path}: event {length} of {stream} is not the head the log anchored (chain rewritten)")


def _bind(path: str, entry: dict[str, Any], hashes: set[str], audit: dict[str, list[str]]) -> None:
    if entry.get("type") == "audit.anchor":
        _bind_anchor(path, entry, audit)
    for key, value in entry.items():
        if key.endswith("sha256") and value not in hashes:
            raise _fail(f"{path}: {key} vouches for a hash that no file or time-stamp in the bundle has")
    head = entry.get("audit_head")
    if head is not None and not any(head in chain_hashes for chain_hashes in audit.values()):
        raise _fail(f"{path}: its audit_head is not in the bundle's audit chain")


def check_inclusion(bundle: Bundle, *, bound_hashes: set[str], audit: dict[str, list[str]]) -> list[LoggedEntry]:
    """Verify every entry's inclusion proof against the checkpoint root and bind it (step 5)."""
    if not bundle.manifest.entries:
        raise _fail("the bundle carries no log entry: the subject is not anchored in the log")
    tree = _checkpoint_text(bundle)
    proven = []
    for ref in bundle.manifest.entries:
        raw = bundle.read(ref.entry)
        index, size, path = _proof(ref.proof, bundle.read(ref.proof))
        if size != tree.size:
            raise _fail(f"{ref.proof} is for a tree of {size} leaves, the checkpoint has {tree.size}")
        try:
            merkle.verify_inclusion(index, size, merkle.leaf_hash(raw), path, tree.root_hash)
        except merkle.InvalidProof as exc:
            raise _fail(f"{ref.entry}: {exc.step}: {exc.reason}") from exc
        try:
            entry = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise _fail(f"{ref.entry} is not JSON") from exc
        if not isinstance(entry, dict):
            raise _fail(f"{ref.entry} is not a JSON object")
        _bind(ref.entry, entry, bound_hashes, audit)
        proven.append(LoggedEntry(path=ref.entry, index=index, tree_size=size, entry=entry))
    kind, subject = bundle.manifest.subject_kind, bundle.manifest.subject_id
    naming = [e for e in proven if subject in (e.entry.get("id"), e.entry.get(f"{kind}_id"))]
    if not naming:
        raise _fail(f"no log entry names the subject {subject}")
    if not any(_entry_kind(e.entry) == kind for e in naming):
        raise _fail(f"the log entries naming {subject} are not of the subject's kind {kind!r}")
    return proven


def _entry_kind(entry: dict[str, Any]) -> str:
    """Return the kind of subject an entry is about: its type up to the first dot."""
    kind = entry.get("type")
    return kind.split(".", 1)[0] if isinstance(kind, str) else ""


def check_checkpoint_signature(bundle: Bundle, log_key: str) -> checkpoint.Checkpoint:
    """Verify the checkpoint note's signature under `log_key` (step 6)."""
    assert bundle.manifest.checkpoint is not None
    try:
        note = bundle.read(bundle.manifest.checkpoint).decode("utf-8")
        verified = checkpoint.verify_checkpoint(note, log_key)
    except UnicodeDecodeError as exc:
        raise VerificationFailed(step=_STEP_CHECKPOINT, reason="the checkpoint is not UTF-8") from exc
    except VerificationFailed as exc:
        raise VerificationFailed(step=_STEP_CHECKPOINT, reason=f"{exc.step}: {exc.reason}") from exc
    if verified.origin != bundle.manifest.log_origin:
        raise VerificationFailed(
            step=_STEP_CHECKPOINT,
            reason=f"the manifest names the log {bundle.manifest.log_origin!r}, the checkpoint {verified.origin!r}",
        )
    return verified
