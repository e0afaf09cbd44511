"""Signed notes (C2SP signed-note) carrying log checkpoints (C2SP tlog-checkpoint), Ed25519 only.

A checkpoint is the note text `<origin>\\n<tree size>\\n<base64 root hash>\\n`, followed by a blank
line and signature lines `— <key name> <base64(key ID ‖ signature)>`. The key ID is the first
four bytes of SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ 32-byte Ed25519 public key) (signed-note §Ed25519
signatures). A verifier key is published as `<name>+<hex key ID>+<base64(0x01 ‖ public key)>`,
the encoding of golang.org/x/mod/sumdb/note, so standard tools accept it. Pure: no database.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from qianshu.core.errors import VerificationFailed
from qianshu.evidence.merkle import HASH_SIZE

ALG_ED25519 = 0x01  # signed-note §Signature types
ED25519_PUBLIC_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
MAX_SIGNATURES = 100  # signed-note: verifiers MUST accept at least 16
SIGNATURE_DASH = "\u2014"  # em dash, signed-note §Format

_STEP_NOTE = "C2SP signed-note"
_STEP_CHECKPOINT = "C2SP tlog-checkpoint"
_KEY_ID_RE = re.compile(r"[0-9a-f]{8}")
_SIZE_RE = re.compile(r"0|[1-9][0-9]{0,19}")


class InvalidNote(VerificationFailed):
    """A signed note or checkpoint is malformed or its signature does not verify."""

    slug = "invalid-signed-note"
    title = "日志检查点签名无效"
    title_en = "Invalid signed note"


@dataclass(frozen=True)
class NoteVerifier:
    """A trusted Ed25519 note key: its name, 4-byte key ID and raw public key."""

    name: str
    key_id: bytes
    public_key: bytes

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Return whether `signature` is this key's Ed25519 signature of `message` (RFC 8032)."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: the key name, the 4-byte key ID and the signature bytes."""

    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class Checkpoint:
    """The parsed note text of a checkpoint (tlog-checkpoint §Note text)."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = field(default=())


def is_valid_key_name(name: str) -> bool:
    """Tell whether `name` may name a note key: non-empty, no Unicode spaces, no '+' (signed-note §Format)."""
    return bool(name) and "+" not in name and not any(ch.isspace() for ch in name) and name.isprintable()


def key_id(name: str, public_key: bytes) -> bytes:
    """Return the key ID: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4] (signed-note §Ed25519 signatures)."""
    if len(public_key) != ED25519_PUBLIC_KEY_SIZE:
        raise ValueError("an Ed25519 public key has 32 bytes")
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


def verifier_key_string(name: str, public_key: bytes) -> str:
    """Encode a verifier key as `<name>+<hex key ID>+<base64(0x01 ‖ public key)>`."""
    if not is_valid_key_name(name):
        raise ValueError("a note key name must be non-empty without spaces or '+'")
    encoded = base64.b64encode(bytes([ALG_ED25519]) + public_key).decode()
    return f"{name}+{key_id(name, public_key).hex()}+{encoded}"


def parse_verifier_key(text: str) -> NoteVerifier:
    """Decode a verifier key string, checking its key ID against the key; raise InvalidNote."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise InvalidNote(step=_STEP_NOTE, reason="verifier key is not name+keyid+key")
    name, hex_id, encoded = parts
    if not is_valid_key_name(name) or not _KEY_ID_RE.fullmatch(hex_id):
        raise InvalidNote(step=_STEP_NOTE, reason="malformed verifier key name or key ID")
    raw = _b64decode(encoded, "verifier key")
    if len(raw) != 1 + ED25519_PUBLIC_KEY_SIZE or raw[0] != ALG_ED25519:
        raise InvalidNote(step=_STEP_NOTE, reason="verifier key is not an Ed25519 key")
    public_key = raw[1:]
    if key_id(name, public_key).hex() != hex_id:
        raise InvalidNote(step=_STEP_NOTE, reason="verifier key ID does not match its key")
    return NoteVerifier(name=name, key_id=bytes.fromhex(hex_id), public_key=public_key)


def format_checkpoint(origin: str, size: int, root: bytes) -> str:
    """Return the checkpoint note text `<origin>\\n<size>\\n<base64 root>\\n` (tlog-checkpoint §Note text)."""
    if not origin or any(ch.isspace() or not ch.isprintable() for ch in origin):
        raise ValueError("the checkpoint origin must be non-empty without spaces")
    if size < 0 or len(root) != HASH_SIZE:
        raise ValueError("bad tree size or root hash")
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse checkpoint note text (tlog-checkpoint §Note text); raise InvalidNote."""
    if not text.endswith("\n"):
        raise InvalidNote(step=_STEP_CHECKPOINT, reason="note text must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or any(not line for line in lines):
        raise InvalidNote(step=_STEP_CHECKPOINT, reason="need origin, size and root hash lines, none empty")
    origin, size_text, root_text, *extensions = lines
    if not _SIZE_RE.fullmatch(size_text):
        raise InvalidNote(step=_STEP_CHECKPOINT, reason="tree size is not a canonical decimal")
    root = _b64decode(root_text, "root hash")
    if len(root) != HASH_SIZE or base64.b64encode(root).decode() != root_text:
        raise InvalidNote(step=_STEP_CHECKPOINT, reason="root hash is not a canonical base64 SHA-256 hash")
    return Checkpoint(origin=origin, size=int(size_text), root_hash=root, extensions=tuple(extensions))


def format_signature_line(sig: NoteSignature) -> str:
    """Return `— <name> <base64(key ID ‖ signature)>\\n` (signed-note §Signatures)."""
    return f"{SIGNATURE_DASH} {sig.name} {base64.b64encode(sig.key_id + sig.signature).decode()}\n"


def sign_note(text: str, *, name: str, public_key: bytes, sign: Callable[[bytes], bytes]) -> str:
    """Sign note `text` with an Ed25519 key reached through `sign(message) -> signature`.

    The private key stays in custody; `sign` is e.g. `custody.sign_digest(label, msg, "")`.
    The signature is checked against `public_key` before the note is returned.
    """
    _check_text(text)
    if not is_valid_key_name(name):
        raise ValueError("a note key name must be non-empty without spaces or '+'")
    message = text.encode()
    signature = sign(message)
    verifier = NoteVerifier(name=name, key_id=key_id(name, public_key), public_key=public_key)
    if len(signature) != ED25519_SIGNATURE_SIZE or not verifier.verify(message, signature):
        raise ValueError("the signer returned a signature that does not verify under the log key")
    return text + "\n" + format_signature_line(NoteSignature(name, verifier.key_id, signature))


def split_note(note: str) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into its text and signature lines (signed-note §Format); raise InvalidNote."""
    if any(ord(ch) < 0x20 and ch != "\n" for ch in note):
        raise InvalidNote(step=_STEP_NOTE, reason="control characters other than newline")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise InvalidNote(step=_STEP_NOTE, reason="no blank line between text and signatures")
    text, block = note[: cut + 1], note[cut + 2 :]
    lines = block[:-1].split("\n") if block else []
    if not lines:
        raise InvalidNote(step=_STEP_NOTE, reason="the note carries no signature")
    if len(lines) > MAX_SIGNATURES:
        raise InvalidNote(step=_STEP_NOTE, reason="too many signatures")
    signatures = []
    for line in lines:
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != SIGNATURE_DASH or not is_valid_key_name(parts[1]):
            raise InvalidNote(step=_STEP_NOTE, reason="malformed signature line")
        blob = _b64decode(parts[2], "signature")
        if len(blob) <= 4:
            raise InvalidNote(step=_STEP_NOTE, reason="signature too short")
        signatures.append(NoteSignature(name=parts[1], key_id=blob[:4], signature=blob[4:]))
    return text, signatures


def open_note(note: str, verifiers: Sequence[NoteVerifier]) -> str:
    """Verify a signed note against trusted keys and return its text (signed-note §Signatures).

    Signatures by unknown keys are ignored; a known key's bad signature rejects the note; at
    least one known key must have signed.
    """
    text, signatures = split_note(note)
    known = {(v.name, v.key_id): v for v in verifiers}
    message = text.encode()
    verified = False
    for sig in signatures:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            continue
        if not verifier.verify(message, sig.signature):
            raise InvalidNote(step=_STEP_NOTE, reason=f"signature by {sig.name} does not verify")
        verified = True
    if not verified:
        raise InvalidNote(step=_STEP_NOTE, reason="no signature by a trusted key")
    return text


def verify_checkpoint(note: str, verifier_key: str, *, origin: str | None = None) -> Checkpoint:
    """Verify a signed checkpoint under the log's verifier key and return it; raise InvalidNote."""
    verifier = parse_verifier_key(verifier_key)
    checkpoint = parse_checkpoint(open_note(note, [verifier]))
    expected = verifier.name if origin is None else origin
    if checkpoint.origin != expected:
        raise InvalidNote(step=_STEP_CHECKPOINT, reason="checkpoint origin is not the expected log")
    return checkpoint


def _check_text(text: str) -> None:
    if not text.endswith("\n") or "\n\n" in "\n" + text:
        raise ValueError("note text must end in a newline and hold no empty line")
    if any(ord(ch) < 0x20 and ch != "\n" for ch in text):
        raise ValueError("note text must not contain control characters")


def _b64decode(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise InvalidNote(step=_STEP_NOTE, reason=f"{what} is not valid base64") from exc
